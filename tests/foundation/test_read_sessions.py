"""Read-only sessions: no transaction (no BEGIN/COMMIT on PostgreSQL, no write lock on
SQLite), and any attempt to write through one fails before it reaches the database."""

from __future__ import annotations

import asyncio
from collections.abc import AsyncIterator
from dataclasses import dataclass
from datetime import UTC, datetime
from typing import Any

import pytest
from sqlalchemy import func, select, text, update
from sqlalchemy.ext.asyncio import AsyncEngine, AsyncSession, async_sessionmaker

from quill.audit.chain import install_chain
from quill.audit.service import AuditEntry, record
from quill.clock import ManualClock
from quill.db.engine import (
    make_engine,
    make_read_session_factory,
    make_reader_engine,
    make_session_factory,
)
from quill.db.session import read_only
from quill.identity.models import User
from tests.audit.chains import KEY
from tests.databases import empty_all_tables


@dataclass
class Databases:
    url: str
    writer: AsyncEngine
    reader: AsyncEngine
    writes: async_sessionmaker[AsyncSession]
    reads: async_sessionmaker[AsyncSession]


@pytest.fixture
async def dbs(database_url: str) -> AsyncIterator[Databases]:
    writer = make_engine(database_url)
    reader = make_reader_engine(database_url, writer)
    writes = make_session_factory(writer)
    install_chain(writes, KEY)
    try:
        yield Databases(database_url, writer, reader, writes,
                        make_read_session_factory(reader))
    finally:
        await empty_all_tables(writer)
        if reader.sync_engine.pool is not writer.sync_engine.pool:
            await reader.dispose()
        await writer.dispose()


def _user(name: str) -> User:
    now = datetime(2026, 1, 1, tzinfo=UTC)
    return User(username=name, username_key=name, email=f"{name}@example.invalid",
                full_name=name, password_hash="x", system_permissions="staff",
                base_profession="consultant", additional_competencies=[],
                removed_competencies=[], created_at=now, updated_at=now)


async def _users(db: AsyncSession) -> int:
    return int((await db.execute(select(func.count()).select_from(User))).scalar_one())


async def test_a_read_session_reads_committed_rows(dbs: Databases) -> None:
    async with dbs.writes() as db, db.begin():
        db.add(_user("reader.one"))
    async with read_only(dbs.reads) as db:
        assert await _users(db) == 1


async def test_a_read_session_refuses_every_kind_of_write(dbs: Databases) -> None:
    async with read_only(dbs.reads) as db:
        db.add(_user("never.written"))
        with pytest.raises(RuntimeError, match="read-only session"):
            await db.flush()
        db.expunge_all()
        with pytest.raises(RuntimeError, match="read-only session"):
            await db.execute(update(User).values(full_name="changed"))
        with pytest.raises(RuntimeError, match="read-only session"):
            await db.execute(text("DELETE FROM users"))
        # The audit chain is not installed on read sessions: an entry cannot be lost to
        # a commit that never happens.
        with pytest.raises(RuntimeError, match="not installed"):
            await record(db, ManualClock(), AuditEntry(action="t", resource_type="Test"))
    async with read_only(dbs.reads) as db:
        assert await _users(db) == 0


async def test_postgres_reads_send_no_begin_or_commit(dbs: Databases) -> None:
    if not dbs.url.startswith("postgresql"):
        pytest.skip("the transaction statements are PostgreSQL's")
    seen: list[str] = []
    async with read_only(dbs.reads) as db:
        driver: Any = (await (await db.connection()).get_raw_connection()).driver_connection
        driver.add_query_logger(lambda logged: seen.append(logged.query))
        for _ in range(3):
            await _users(db)
    async with read_only(dbs.reads) as db:
        await _users(db)
    await asyncio.sleep(0)  # the logger's callbacks run on the next loop pass
    # Unprepared statements only (transaction control, pings) reach the logger.
    assert seen == []
    # The writer's pool, shared, still begins its own transactions.
    async with dbs.writes() as db, db.begin():
        await _users(db)
        driver = (await (await db.connection()).get_raw_connection()).driver_connection
        assert driver.is_in_transaction()


async def test_sqlite_reads_beside_a_writer_holding_the_write_lock(dbs: Databases) -> None:
    if not dbs.url.startswith("sqlite"):
        pytest.skip("PostgreSQL readers never waited for writers")
    async with dbs.writes() as db, db.begin():
        db.add(_user("uncommitted"))
        await db.flush()  # BEGIN IMMEDIATE taken, a row written, not committed
        async with read_only(dbs.reads) as reading:
            # Answers at once (WAL), and sees only what was committed.
            assert await asyncio.wait_for(_users(reading), timeout=5) == 0
    async with read_only(dbs.reads) as reading:
        assert await _users(reading) == 1
        assert (await reading.execute(text("SELECT 1"))).scalar_one() == 1
