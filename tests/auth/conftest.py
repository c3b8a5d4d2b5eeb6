"""Fixtures for apps built with settings other than the defaults."""

from __future__ import annotations

import os
import uuid
from collections.abc import AsyncIterator, Awaitable, Callable
from contextlib import AsyncExitStack
from pathlib import Path

import pytest
import redis.asyncio as aioredis
from fastapi import FastAPI
from redis.exceptions import RedisError

from quill.app import create_app
from quill.clock import ManualClock
from quill.db.engine import make_engine
from tests.conftest import make_settings
from tests.databases import empty_all_tables

AppFactory = Callable[..., Awaitable[FastAPI]]
# A Redis URL and a key prefix no other test uses.
SharedRedis = tuple[str, str]

DEFAULT_REDIS_URL = "redis://127.0.0.1:6379/0"


@pytest.fixture
async def shared_redis() -> AsyncIterator[SharedRedis]:
    """The Redis URL and a key prefix unique to this test; only its own keys are removed."""
    url = os.environ.get("QUILL_TEST_REDIS_URL", DEFAULT_REDIS_URL)
    client = aioredis.Redis.from_url(url)
    try:
        await client.ping()
    except (RedisError, OSError) as exc:
        await client.aclose()
        if os.environ.get("CI") == "true":
            pytest.fail(f"Redis is required under CI=true but did not answer: {exc}")
        pytest.skip(f"Redis not reachable: {exc}")
    prefix = f"quill-test-{uuid.uuid4().hex[:12]}"
    try:
        yield url, prefix
    finally:
        keys = [key async for key in client.scan_iter(match=f"*{prefix}*")]
        if keys:
            await client.delete(*keys)
        await client.aclose()


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
