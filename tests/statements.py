"""Counting the SQL statements a block of code sends (bounded-query assertions)."""

from __future__ import annotations

from collections.abc import AsyncIterator, Iterator
from contextlib import asynccontextmanager, contextmanager
from typing import Any

from sqlalchemy import event
from sqlalchemy.ext.asyncio import AsyncEngine, AsyncSession


@contextmanager
def count_statements(engine: AsyncEngine) -> Iterator[list[str]]:
    statements: list[str] = []

    def before(_conn: Any, _cursor: Any, statement: str, *_args: Any) -> None:
        if not statement.lstrip().upper().startswith(("BEGIN", "PRAGMA", "SAVEPOINT", "RELEASE")):
            statements.append(statement)

    event.listen(engine.sync_engine, "before_cursor_execute", before)
    try:
        yield statements
    finally:
        event.remove(engine.sync_engine, "before_cursor_execute", before)


@asynccontextmanager
async def sqlite_steps(db: AsyncSession) -> AsyncIterator[list[int]]:
    """Count SQLite virtual-machine steps (in hundreds) run on ``db``'s connection.

    Yields a one-item list holding the running count, read it after the block.
    """
    driver: Any = (await (await db.connection()).get_raw_connection()).driver_connection
    steps = [0]

    def tick() -> int:
        steps[0] += 1
        return 0

    await driver.set_progress_handler(tick, 100)
    try:
        yield steps
    finally:
        await driver.set_progress_handler(None, 100)
