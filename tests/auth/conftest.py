"""Fixtures for apps built with settings other than the defaults."""

from __future__ import annotations

from collections.abc import AsyncIterator, Awaitable, Callable
from contextlib import AsyncExitStack
from pathlib import Path

import pytest
from fastapi import FastAPI

from quill.app import create_app
from quill.clock import ManualClock
from quill.db.engine import make_engine
from tests.conftest import make_settings
from tests.databases import empty_all_tables

AppFactory = Callable[..., Awaitable[FastAPI]]


@pytest.fixture
async def app_factory(
    database_url: str, tmp_path: Path, clock: ManualClock
) -> AsyncIterator[AppFactory]:
    """Build apps on the test database with setting overrides; all are shut down after."""
    async with AsyncExitStack() as stack:

        async def build(**overrides: object) -> FastAPI:
            settings = make_settings(database_url, tmp_path, **overrides)
            application = create_app(settings, clock=clock)
            await stack.enter_async_context(application.router.lifespan_context(application))
            return application

        try:
            yield build
        finally:
            await stack.aclose()
            engine = make_engine(database_url)
            try:
                await empty_all_tables(engine)
            finally:
                await engine.dispose()


@pytest.fixture
async def settings_secure_app(app_factory: AppFactory) -> FastAPI:
    return await app_factory(cookie_secure=True)


@pytest.fixture
async def proxied_app(app_factory: AppFactory) -> FastAPI:
    return await app_factory(trusted_proxies="127.0.0.1,10.1.0.0/16")
