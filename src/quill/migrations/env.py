"""Alembic environment: async engine, batch mode for SQLite, UTC datetimes rendered plainly."""

from __future__ import annotations

import asyncio

from alembic import context
from sqlalchemy import text
from sqlalchemy.engine import Connection

from quill.db.engine import make_engine
from quill.migrations.options import compare_options

# Any fixed number: every Quill process migrating one PostgreSQL database takes this lock.
MIGRATION_LOCK_ID = 0x51_75_69_6C_6C  # "Quill"


def _run(connection: Connection) -> None:
    context.configure(connection=connection, **compare_options())
    with context.begin_transaction():
        if connection.dialect.name == "postgresql":
            # Several hosts starting `quill serve` at once would otherwise race to create the
            # same tables. The lock lasts until this transaction ends, so the next process
            # waits, then finds the schema at head and has nothing to do.
            connection.execute(text("SELECT pg_advisory_xact_lock(:id)"),
                               {"id": MIGRATION_LOCK_ID})
        context.run_migrations()


async def _run_async(url: str) -> None:
    engine = make_engine(url)
    try:
        async with engine.connect() as connection:
            await connection.run_sync(_run)
            await connection.commit()
    finally:
        await engine.dispose()


url = context.config.attributes.get("database_url") or context.config.get_main_option(
    "sqlalchemy.url"
)
if not url:
    raise RuntimeError("no database URL given to Alembic")
asyncio.run(_run_async(str(url)))
