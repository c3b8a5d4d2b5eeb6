"""Several hosts may start `quill migrate` / `quill serve` against one new PostgreSQL
database at the same moment; every one must succeed and leave one schema."""

from __future__ import annotations

import asyncio
import os
import sys

import asyncpg
from sqlalchemy.engine import make_url

from tests.databases import postgres_database

PROCESSES = 4


async def _migrate(database_url: str) -> tuple[int, str]:
    env = {key: value for key, value in os.environ.items() if not key.startswith("QUILL_")}
    env["QUILL_DATABASE_URL"] = database_url
    process = await asyncio.create_subprocess_exec(
        sys.executable, "-m", "quill", "migrate", env=env,
        stdout=asyncio.subprocess.PIPE, stderr=asyncio.subprocess.STDOUT)
    output, _ = await asyncio.wait_for(process.communicate(), timeout=180)
    return process.returncode or 0, output.decode(errors="replace")


async def test_simultaneous_migrations_on_one_postgres_database_all_succeed() -> None:
    async with postgres_database() as database_url:
        results = await asyncio.gather(*(_migrate(database_url) for _ in range(PROCESSES)))
        for code, output in results:
            assert code == 0, output
            assert "database is up to date" in output
        dsn = make_url(database_url).set(drivername="postgresql").render_as_string(
            hide_password=False)
        connection = await asyncpg.connect(dsn)
        try:
            versions = await connection.fetch("SELECT version_num FROM alembic_version")
        finally:
            await connection.close()
        assert len(versions) == 1
