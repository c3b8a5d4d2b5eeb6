"""Alembic environment: async engine, batch mode for SQLite, UTC datetimes rendered plainly."""

from __future__ import annotations

import asyncio

from alembic import context
from sqlalchemy.engine import Connection

from quill.db.engine import DatabaseDeadlines, make_engine
from quill.migrations.options import compare_options


def _run(connection: Connection) -> None:
    context.configure(connection=connection, **compare_options())
    with context.begin_transaction():
        context.run_migrations()


async def _run_async(url: str) -> None:
    # No statement deadline: building an index on a large table may rightly take long.
    engine = make_engine(url, deadlines=DatabaseDeadlines(statement_seconds=None))
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
