"""UTC columns give back aware UTC datetimes on both backends, whatever offset went in."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta, timezone

from sqlalchemy import Column, Integer, MetaData, Table, insert, select

from quill.db.base import UtcDateTime
from quill.db.engine import make_engine

NOTES = Table("utc_probe", MetaData(), Column("id", Integer, primary_key=True),
              Column("at", UtcDateTime()))


async def test_utc_columns_read_back_aware_utc(database_url: str) -> None:
    engine = make_engine(database_url)
    written = datetime(2026, 3, 12, 14, 5, 7, 123456, tzinfo=timezone(timedelta(hours=5)))
    try:
        async with engine.begin() as conn:
            await conn.run_sync(NOTES.create)
            try:
                await conn.execute(insert(NOTES),
                                   [{"id": 1, "at": written}, {"id": 2, "at": None}])
                rows = (await conn.execute(select(NOTES.c.at).order_by(NOTES.c.id))).all()
            finally:
                await conn.run_sync(NOTES.drop)
    finally:
        await engine.dispose()
    read, empty = rows[0].at, rows[1].at
    assert read == written
    assert read.tzinfo is not None
    assert read.utcoffset() == timedelta(0)
    assert read.astimezone(UTC).isoformat() == "2026-03-12T09:05:07.123456+00:00"
    assert empty is None
