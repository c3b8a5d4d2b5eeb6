"""The request owns the transaction: one session per request, committed once at the end."""

from __future__ import annotations

import logging
from collections.abc import AsyncIterator
from contextlib import asynccontextmanager

from sqlalchemy import text
from sqlalchemy.ext.asyncio import AsyncSession, async_sessionmaker

log = logging.getLogger("quill.db")


def _untouched(session: AsyncSession) -> bool:
    """Nothing read, added or begun: the session holds no connection and no objects."""
    return not (session.in_transaction() or session.identity_map or session.new
                or session.dirty or session.deleted)


@asynccontextmanager
async def unit_of_work(factory: async_sessionmaker[AsyncSession]) -> AsyncIterator[AsyncSession]:
    """Open a session, commit when the block succeeds, roll back when it raises.

    A block that never touched the session (a request answered from the caller cache)
    skips commit and close: both would only begin and end an empty transaction. A failed
    commit is rolled back too, so nothing half-written remains.
    """
    session = factory()
    try:
        yield session
    except BaseException:
        if not _untouched(session):
            await _discard(session)
        raise
    if _untouched(session):
        return
    try:
        await session.commit()
    except BaseException:
        await _discard(session)
        raise
    await session.close()


@asynccontextmanager
async def read_only(factory: async_sessionmaker[AsyncSession]) -> AsyncIterator[AsyncSession]:
    """A session of a read-only factory (see make_read_session_factory): nothing to commit,
    so it is only closed, which hands its connection back to the pool. After a failure
    (a lost connection, say) it is discarded as a unit of work's would be."""
    session = factory()
    try:
        yield session
    except BaseException:
        await _discard(session)
        raise
    await session.close()


async def _discard(session: AsyncSession) -> None:
    """Roll back and close; a database that is gone cannot roll back, and the server
    drops the transaction with the connection, so that failure is only logged."""
    try:
        await session.rollback()
    except Exception:
        log.warning("rollback failed; the connection is discarded", exc_info=True)
    try:
        await session.close()
    except Exception:
        log.warning("closing a session failed", exc_info=True)


async def database_answers(factory: async_sessionmaker[AsyncSession]) -> bool:
    """A health probe: the database runs a statement (raises when it cannot)."""
    async with factory() as db:
        await db.execute(text("SELECT 1"))
    return True


async def database_accepts_writes(factory: async_sessionmaker[AsyncSession]) -> bool:
    """A readiness probe: the database commits a write that changes nothing.

    PostgreSQL: taking a transaction id makes the commit write (and flush) a WAL record,
    and a read-only server or transaction is refused. SQLite: rewriting the header's
    user_version with its own value takes the write lock and writes a page at commit, so
    a read-only file or a full disk fails here as it would for real data.
    """
    async with factory() as db, db.begin():
        if db.get_bind().dialect.name == "sqlite":
            version = int((await db.execute(text("PRAGMA user_version"))).scalar_one())
            await db.execute(text(f"PRAGMA user_version = {version}"))
        else:
            row = (await db.execute(text(
                "SELECT txid_current(), current_setting('transaction_read_only')"))).one()
            if row[1] == "on":
                return False
    return True
