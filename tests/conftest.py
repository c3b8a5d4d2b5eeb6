"""Fixtures: every app-level test runs on SQLite and on PostgreSQL."""

from __future__ import annotations

import asyncio
from collections.abc import AsyncIterator
from contextlib import asynccontextmanager
from pathlib import Path

import httpx
import pytest
from fastapi import FastAPI

from quill.app import create_app
from quill.clock import ManualClock
from quill.db.engine import make_engine
from quill.migrations.run import upgrade
from quill.settings import Settings
from tests.databases import empty_all_tables, postgres_database, sqlite_database

BACKENDS = ["sqlite", "postgres"]
TEST_AUDIT_KEY = "test-audit-key-distinct-from-the-secret-0123456789"


@pytest.fixture(scope="session")
def session_tmp(tmp_path_factory: pytest.TempPathFactory) -> Path:
    return tmp_path_factory.mktemp("quill")


@pytest.fixture(scope="session", params=BACKENDS)
async def database_url(request: pytest.FixtureRequest, session_tmp: Path) -> AsyncIterator[str]:
    """A migrated database per backend, shared by the session and emptied between tests."""
    if request.param == "sqlite":
        url = sqlite_database(session_tmp)
        await asyncio.to_thread(upgrade, url)
        yield url
        return
    async with postgres_database() as url:
        await asyncio.to_thread(upgrade, url)
        yield url


def make_settings(database_url: str, data_dir: Path, **overrides: object) -> Settings:
    values: dict[str, object] = {
        "env": "development",
        "database_url": database_url,
        "data_dir": data_dir,
        "secret_key": "test-secret-key-that-is-long-enough-0123456789",
        # One key for every app in a test, as every worker of a deployment shares one.
        "audit_key": TEST_AUDIT_KEY,
        "redis_url": "",
        "smtp_url": "",
        "fhir_url": "",
        "ehrbase_url": "",
        "cookie_secure": False,
        # Cheap hashing keeps the suite fast; production parameters are tested separately.
        "argon2_memory_kib": 1024,
        "argon2_time_cost": 1,
        # The push tests run a real push service on a loopback socket.
        "push_allow_loopback": True,
    }
    values.update(overrides)
    return Settings.model_validate(values)


@pytest.fixture
def clock() -> ManualClock:
    return ManualClock()


@pytest.fixture
def settings(database_url: str, tmp_path: Path) -> Settings:
    return make_settings(database_url, tmp_path)


@asynccontextmanager
async def running_app(settings: Settings, clock: ManualClock) -> AsyncIterator[FastAPI]:
    """The app with its lifespan running; every table is emptied afterwards."""
    application = create_app(settings, clock=clock)
    try:
        async with application.router.lifespan_context(application):
            yield application
    finally:
        engine = make_engine(settings.database_url)
        try:
            await empty_all_tables(engine)
        finally:
            await engine.dispose()


@pytest.fixture
async def app(settings: Settings, clock: ManualClock) -> AsyncIterator[FastAPI]:
    async with running_app(settings, clock) as application:
        yield application


@pytest.fixture
async def client(app: FastAPI) -> AsyncIterator[httpx.AsyncClient]:
    transport = httpx.ASGITransport(app=app)
    async with httpx.AsyncClient(transport=transport, base_url="http://testserver") as http:
        yield http
