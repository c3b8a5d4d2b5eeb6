"""PostgreSQL pooled connections: checked without a round trip, pinged only after idling.

asyncpg's query logger sees the statements the driver sends unprepared on a connection:
the BEGIN/COMMIT/ROLLBACK around transactions and the pool's ping (a bare ";"), which is
what these tests count. SQLAlchemy's own statements go as prepared statements, unlogged.
"""

from __future__ import annotations

import asyncio
from collections.abc import AsyncIterator
from typing import Any

import asyncpg
import pytest
from sqlalchemy import text
from sqlalchemy.ext.asyncio import AsyncEngine

from quill.db.engine import DatabaseDeadlines, make_engine
from tests.databases import _dsn, pg_admin_url, postgres_database


@pytest.fixture
async def pg_url() -> AsyncIterator[str]:
    async with postgres_database() as url:
        yield url


async def _logged_queries(engine: AsyncEngine) -> list[str]:
    """Every query the pool's single connection sends from now on."""
    seen: list[str] = []
    async with engine.connect() as conn:
        raw = await conn.get_raw_connection()
        driver: Any = raw.driver_connection
        driver.add_query_logger(lambda record: seen.append(record.query.strip()))
    return seen


async def _backend_pid(engine: AsyncEngine) -> int:
    async with engine.connect() as conn:
        return int((await conn.execute(text("SELECT pg_backend_pid()"))).scalar_one())


async def test_a_busy_connection_is_reused_without_a_ping(pg_url: str) -> None:
    engine = make_engine(pg_url)
    try:
        queries = await _logged_queries(engine)
        for _ in range(3):
            async with engine.begin() as conn:
                await conn.execute(text("SELECT 41 + 1"))
    finally:
        await engine.dispose()
    await asyncio.sleep(0)  # the logger's callbacks run on the next loop pass
    # Per transaction a BEGIN and a COMMIT, and nothing else: no pre-ping's BEGIN, query
    # and ROLLBACK.
    assert [q.split()[0].rstrip(";").upper() for q in queries] == ["BEGIN", "COMMIT"] * 3


async def test_an_idle_connection_is_pinged_before_it_is_handed_out(pg_url: str) -> None:
    engine = make_engine(pg_url, deadlines=DatabaseDeadlines(idle_ping_seconds=0.05))
    try:
        queries = await _logged_queries(engine)
        await asyncio.sleep(0.1)
        async with engine.connect() as conn:
            await conn.execute(text("SELECT 41 + 1"))
    finally:
        await engine.dispose()
    await asyncio.sleep(0)  # the logger's callbacks run on the next loop pass
    assert ";" in queries, queries


async def test_a_connection_the_server_closed_while_pooled_is_replaced(pg_url: str) -> None:
    engine = make_engine(pg_url)
    try:
        async with engine.connect() as conn:
            first = int((await conn.execute(text("SELECT pg_backend_pid()"))).scalar_one())
            driver: Any = (await conn.get_raw_connection()).driver_connection
        admin = await asyncpg.connect(_dsn(pg_admin_url()), timeout=5)
        try:
            assert await admin.fetchval("SELECT pg_terminate_backend($1)", first)
        finally:
            await admin.close()
        # The driver hears the server close the socket while the connection is pooled.
        for _ in range(100):
            if driver.is_closed():
                break
            await asyncio.sleep(0.02)
        assert driver.is_closed()
        # The next request gets a fresh connection rather than an error.
        assert await _backend_pid(engine) != first
    finally:
        await engine.dispose()
