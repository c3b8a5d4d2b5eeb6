"""The request owns the transaction: one session per request, committed once at the end."""

from __future__ import annotations

from collections.abc import AsyncIterator
from contextlib import asynccontextmanager

from sqlalchemy import text
from sqlalchemy.ext.asyncio import AsyncSession, async_sessionmaker


def _untouched(session: AsyncSession) -> bool:
    """Nothing read, added or begun: the session holds no connection and no objects."""
    return not (session.in_transaction() or session.identity_map or session.new
                or session.dirty or session.deleted)


@asynccontextmanager
async def unit_of_work(factory: async_sessionmaker[AsyncSession]) -> AsyncIterator[AsyncSession]:
    """Open a session, commit when the block succeeds, roll back when it raises.

    A block that never touched the session (a request answered from the caller cache)
    skips commit and close: both would only begin and end an empty transaction.
    """
    session = factory()
    try:
        yield session
    except BaseException:
        if not _untouched(session):
            await session.rollback()
            await session.close()
        raise
    if _untouched(session):
        return
    try:
        await session.commit()
    finally:
        await session.close()


async def database_answers(factory: async_sessionmaker[AsyncSession]) -> bool:
    """A health probe: the database runs a statement (raises when it cannot)."""
    async with factory() as db:
        await db.execute(text("SELECT 1"))
    return True
