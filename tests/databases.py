"""Throwaway databases for the test session: a temp SQLite file and a unique PostgreSQL db."""

from __future__ import annotations

import os
import uuid
from collections.abc import AsyncIterator
from contextlib import asynccontextmanager
from pathlib import Path

import asyncpg
import pytest
from sqlalchemy import text
from sqlalchemy.engine import make_url
from sqlalchemy.ext.asyncio import AsyncEngine

from quill.migrations.tables import metadata

DEFAULT_PG_ADMIN_URL = "postgresql://postgres@127.0.0.1:5432/postgres"


def pg_admin_url() -> str:
    return os.environ.get("QUILL_TEST_PG_URL", DEFAULT_PG_ADMIN_URL)


def _dsn(url: str) -> str:
    return make_url(url).set(drivername="postgresql").render_as_string(hide_password=False)


async def _pg_connect(url: str) -> asyncpg.Connection:
    return await asyncpg.connect(_dsn(url), timeout=5)


@asynccontextmanager
async def postgres_database() -> AsyncIterator[str]:
    """Create a uniquely named database, yield its URL, drop it afterwards."""
    admin_url = pg_admin_url()
    try:
        admin = await _pg_connect(admin_url)
    except (OSError, asyncpg.PostgresError) as exc:
        if os.environ.get("CI") == "true":
            pytest.fail(f"PostgreSQL is required under CI=true but did not answer: {exc}")
        pytest.skip(f"PostgreSQL not reachable at {make_url(admin_url).host}: {exc}")
    name = f"quill_test_{uuid.uuid4().hex[:12]}"
    try:
        await admin.execute(f'CREATE DATABASE "{name}"')
    finally:
        await admin.close()
    try:
        yield str(make_url(admin_url).set(database=name).render_as_string(hide_password=False))
    finally:
        admin = await _pg_connect(admin_url)
        try:
            await admin.execute(f'DROP DATABASE IF EXISTS "{name}" WITH (FORCE)')
        finally:
            await admin.close()


def sqlite_database(directory: Path) -> str:
    return f"sqlite:///{directory / 'quill-test.db'}"


async def empty_all_tables(engine: AsyncEngine) -> None:
    """Remove every row between tests; the schema (from migrations) stays."""
    tables = [table.name for table in reversed(metadata.sorted_tables)]
    async with engine.begin() as connection:
        if engine.dialect.name == "postgresql":
            # TRUNCATE costs per table, so empty only the ones a test wrote to.
            probe = " UNION ALL ".join(
                f"SELECT '{name}' WHERE EXISTS (SELECT 1 FROM \"{name}\")" for name in tables)
            used = (await connection.execute(text(probe))).scalars().all()
            if used:
                names = ", ".join(f'"{name}"' for name in used)
                await connection.execute(text(f"TRUNCATE {names} RESTART IDENTITY CASCADE"))
        else:
            for name in tables:
                await connection.execute(text(f'DELETE FROM "{name}"'))
