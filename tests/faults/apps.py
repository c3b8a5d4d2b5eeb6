"""Apps for fault tests: short deadlines, so an outage is answered in about a second."""

from __future__ import annotations

import logging
from collections.abc import AsyncIterator
from contextlib import asynccontextmanager
from pathlib import Path

import httpx
import pytest
from fastapi import FastAPI
from sqlalchemy import text
from sqlalchemy.ext.asyncio import AsyncSession, async_sessionmaker

from quill.app import create_app
from quill.clock import ManualClock
from tests.conftest import make_settings

SHORT_DEADLINES: dict[str, object] = {
    "db_connect_timeout_seconds": 1.0,
    "db_statement_timeout_seconds": 1.0,
    "db_pool_timeout_seconds": 1.0,
    # Longer than the database's, so a 503 in time shows the database deadlines worked.
    "request_timeout_seconds": 20.0,
    "redis_timeout_seconds": 1.0,
    # Every request reads its caller from the database, so every request meets an outage.
    "caller_cache_seconds": 0,
    "rate_limit_login": "1000/minute",
    "rate_limit_register": "1000/minute",
}
# A bound on any one request in these tests, so a regression fails instead of hanging.
GUARD_SECONDS = 30.0


@asynccontextmanager
async def fault_app(database_url: str, data_dir: Path, **overrides: object
                    ) -> AsyncIterator[FastAPI]:
    settings = make_settings(database_url, data_dir, **{**SHORT_DEADLINES, **overrides})
    app = create_app(settings, clock=ManualClock())
    async with app.router.lifespan_context(app):
        yield app


def http_client(app: FastAPI) -> httpx.AsyncClient:
    return httpx.AsyncClient(transport=httpx.ASGITransport(app=app),
                             base_url="http://testserver")


def assert_unavailable(response: httpx.Response) -> None:
    """503 with Retry-After and a detail that gives nothing away."""
    assert response.status_code == 503, response.text
    assert int(response.headers["Retry-After"]) > 0
    assert response.json() == {"detail": "Service temporarily unavailable"}


def warnings_naming(caplog: pytest.LogCaptureFixture, dependency: str) -> list[str]:
    return [record.getMessage() for record in caplog.records
            if record.levelno == logging.WARNING
            and getattr(record, "dependency", None) == dependency]


async def count_rows(factory: async_sessionmaker[AsyncSession], table: str) -> int:
    async with factory() as db:
        return int((await db.execute(text(f'SELECT count(*) FROM "{table}"'))).scalar_one())
