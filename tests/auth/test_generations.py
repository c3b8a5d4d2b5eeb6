"""Each caller-cache generation against its real medium: a file, Redis, PostgreSQL."""

from __future__ import annotations

import asyncio
import logging
import os
import shutil
import signal
import socket
import subprocess
import time
from collections.abc import AsyncIterator, Callable, Iterator
from contextlib import asynccontextmanager, contextmanager
from datetime import UTC, datetime, timedelta

import pytest
import redis.asyncio as aioredis
from sqlalchemy import text
from sqlalchemy.util import greenlet_spawn

from quill.access.models import Organisation, OrganisationFeature, StaffMembership
from quill.auth.caller_cache import CachedCaller, CallerCache, SharedGeneration
from quill.auth.generations import (
    APPLICATION_NAME,
    TRUST_SECONDS,
    FollowedGeneration,
    PostgresGeneration,
    RedisGeneration,
)
from quill.db.engine import make_engine
from quill.identity.caller import UserIdentity
from quill.identity.models import User
from tests.auth.conftest import AppFactory, SharedRedis
from tests.auth.support import CHANGE_BOUND_SECONDS, update_user
from tests.helpers import make_user, runtime_of

NOW = datetime(2026, 1, 1, tzinfo=UTC)
IDENTITY = UserIdentity(id=1, username="u", full_name="U", email="u@example.org",
                        system_permissions="staff", base_profession="consultant",
                        additional_competencies=(), removed_competencies=(),
                        totp_enabled=False, fhir_patient_id=None)
# Long enough for a loaded machine to notice an outage and recover from it.
OUTAGE_SECONDS = 15.0


async def eventually(condition: Callable[[], bool], seconds: float) -> bool:
    deadline = time.monotonic() + seconds
    while time.monotonic() <= deadline:
        if condition():
            return True
        await asyncio.sleep(0.01)
    return condition()


async def moved_within_bound(generation: FollowedGeneration, before: bytes | None) -> bool:
    return await eventually(lambda: generation.current() not in (None, before),
                            CHANGE_BOUND_SECONDS)


def _entry(cache: CallerCache) -> CachedCaller:
    return CachedCaller(IDENTITY, "s1", NOW + timedelta(days=1), NOW + timedelta(minutes=15),
                        (), cache.mark(), NOW)


@asynccontextmanager
async def following(generation: FollowedGeneration) -> AsyncIterator[FollowedGeneration]:
    await generation.start()
    try:
        assert generation.current() is not None, "the first subscription was not confirmed"
        yield generation
    finally:
        await generation.aclose()


async def test_runtime_picks_the_generation_from_settings(
    app_factory: AppFactory, shared_redis: SharedRedis, database_url: str
) -> None:
    url, prefix = shared_redis
    on_redis = await app_factory(redis_url=url, redis_prefix=prefix)
    assert isinstance(runtime_of(on_redis).callers.generation, RedisGeneration)
    plain = runtime_of(await app_factory()).callers.generation
    expected = PostgresGeneration if database_url.startswith("postgresql") else SharedGeneration
    assert isinstance(plain, expected)
    off = runtime_of(await app_factory(redis_url=url, caller_cache_seconds=0)).callers
    assert off.generation is None
    assert not off.enabled


async def test_redis_carries_a_committed_change_to_another_host(
    app_factory: AppFactory, shared_redis: SharedRedis
) -> None:
    url, prefix = shared_redis
    app = await app_factory(redis_url=url, redis_prefix=prefix)
    user = await make_user(app, "moved")
    runtime = runtime_of(app)
    async with following(RedisGeneration(url, prefix=prefix)) as elsewhere:
        for change in ({"system_permissions": "admin"}, {"additional_competencies": ["x"]},
                       {"is_active": False}):
            before = elsewhere.current()
            await update_user(app, user.id, **change)
            assert await moved_within_bound(elsewhere, before), change
        before = elsewhere.current()
        async with runtime.session_factory() as db, db.begin():
            organisation = Organisation(name="Ward", type="hospital_team", location=None,
                                        created_at=NOW, updated_at=NOW)
            db.add(organisation)
            await db.flush()
            db.add(StaffMembership(organisation_id=organisation.id, user_id=user.id,
                                   is_primary=True, created_at=NOW))
        assert await moved_within_bound(elsewhere, before)  # a membership changes access
        before = elsewhere.current()
        async with runtime.session_factory() as db, db.begin():
            db.add(OrganisationFeature(organisation_id=organisation.id,
                                       feature_key="letters", enabled_at=NOW))
        assert await moved_within_bound(elsewhere, before)  # so does a feature


async def test_redis_prefixes_keep_deployments_apart(shared_redis: SharedRedis) -> None:
    url, prefix = shared_redis
    theirs = RedisGeneration(url, prefix=f"{prefix}-other")
    try:
        async with following(RedisGeneration(url, prefix=prefix)) as mine:
            before = mine.current()
            await greenlet_spawn(theirs.advance)
            published = time.monotonic()
            # Once a ping sent after the publish is answered, the message would have come.
            assert await eventually(lambda: mine.proven_at > published + 0.05,
                                    CHANGE_BOUND_SECONDS)
            assert mine.current() == before
    finally:
        await theirs.aclose()


async def test_a_killed_redis_subscription_forgets_every_entry(
    shared_redis: SharedRedis,
) -> None:
    url, prefix = shared_redis
    admin = aioredis.Redis.from_url(url, decode_responses=True)
    cache = CallerCache(RedisGeneration(url, prefix=prefix), ttl_seconds=30)
    await cache.start()
    try:
        cache.put("t", _entry(cache))
        assert cache.get("t", NOW) is not None
        before = cache.mark()
        # Only the subscription: nothing was published, so no other connection is open.
        ours = [c["id"] for c in await admin.client_list() if c["name"] == f"{prefix}-callers"]
        assert ours, "the subscription connection is not named"
        for client_id in ours:
            await admin.client_kill_filter(_id=client_id)
        # Whatever was published meanwhile is lost: the resubscribed value is a new one.
        assert await eventually(lambda: cache.mark() not in (None, before), OUTAGE_SECONDS)
        assert cache.get("t", NOW) is None
    finally:
        await cache.aclose()
        await admin.aclose()


@contextmanager
def own_redis_server() -> Iterator[tuple[str, subprocess.Popen[bytes]]]:
    """A Redis of this test's own, so it can be paused without touching the shared one."""
    binary = shutil.which("redis-server")
    if binary is None:
        if os.environ.get("CI") == "true":
            pytest.fail("redis-server is required under CI=true")
        pytest.skip("redis-server is not installed")
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        port = sock.getsockname()[1]
    process = subprocess.Popen(
        [binary, "--port", str(port), "--bind", "127.0.0.1", "--save", "", "--appendonly",
         "no"], stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)
    try:
        yield f"redis://127.0.0.1:{port}/0", process
    finally:
        process.send_signal(signal.SIGCONT)
        process.terminate()
        process.wait(timeout=30)


async def test_an_unanswering_redis_bypasses_the_cache_until_it_answers() -> None:
    with own_redis_server() as (url, server):
        cache = CallerCache(RedisGeneration(url, prefix="paused"), ttl_seconds=30)
        for _ in range(100):  # the server takes a moment to listen
            await cache.start()
            if cache.mark() is not None:
                break
            await asyncio.sleep(0.1)
        try:
            cache.put("t", _entry(cache))
            assert cache.get("t", NOW) is not None
            server.send_signal(signal.SIGSTOP)
            paused = time.monotonic()
            assert await eventually(lambda: cache.mark() is None, OUTAGE_SECONDS)
            # Unknown within the bound: no change could stay unheard for longer.
            assert time.monotonic() - paused < TRUST_SECONDS + CHANGE_BOUND_SECONDS
            assert cache.get("t", NOW) is None
            cache.put("u", _entry(cache))
            assert len(cache) == 0
            server.send_signal(signal.SIGCONT)
            assert await eventually(lambda: cache.mark() is not None, OUTAGE_SECONDS)
            cache.put("u", _entry(cache))
            assert cache.get("u", NOW) is not None
        finally:
            await cache.aclose()


async def test_an_unreachable_redis_does_not_fail_the_commit(
    caplog: pytest.LogCaptureFixture,
) -> None:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        port = sock.getsockname()[1]
    generation = RedisGeneration(f"redis://127.0.0.1:{port}/0", prefix="nowhere")
    try:
        with caplog.at_level(logging.ERROR, logger="quill.auth"):
            await greenlet_spawn(generation.advance)
        assert "could not announce a caller change" in caplog.text
        assert generation.current() is None  # never subscribed: nothing is trusted
    finally:
        await generation.aclose()


def _postgres_only(database_url: str) -> None:
    if not database_url.startswith("postgresql"):
        pytest.skip("LISTEN/NOTIFY is PostgreSQL's")


async def test_postgres_notifies_with_the_commit_and_never_on_rollback(
    app_factory: AppFactory, database_url: str
) -> None:
    _postgres_only(database_url)
    app = await app_factory()
    user = await make_user(app, "listened")
    async with following(PostgresGeneration(database_url)) as elsewhere:
        for change in ({"system_permissions": "admin"}, {"is_active": False}):
            before = elsewhere.current()
            await update_user(app, user.id, **change)
            assert await moved_within_bound(elsewhere, before), change
        before = elsewhere.current()
        async with runtime_of(app).session_factory() as db:
            row = await db.get(User, user.id)
            assert row is not None
            row.full_name = "never committed"
            await db.flush()
            await db.rollback()
        rolled_back = time.monotonic()
        assert await eventually(lambda: elsewhere.proven_at > rolled_back + 0.05,
                                CHANGE_BOUND_SECONDS)
        assert elsewhere.current() == before


async def test_a_terminated_listener_forgets_every_entry(database_url: str) -> None:
    _postgres_only(database_url)
    cache = CallerCache(PostgresGeneration(database_url, channel="quill_test_terminated"),
                        ttl_seconds=30)
    await cache.start()
    try:
        cache.put("t", _entry(cache))
        before = cache.mark()
        assert before is not None
        engine = make_engine(database_url)
        try:
            async with engine.begin() as connection:
                await connection.execute(text(
                    "SELECT pg_terminate_backend(pid) FROM pg_stat_activity WHERE "
                    "datname = current_database() AND application_name = :name"),
                    {"name": APPLICATION_NAME})
        finally:
            await engine.dispose()
        assert await eventually(lambda: cache.mark() not in (None, before), OUTAGE_SECONDS)
        assert cache.get("t", NOW) is None
    finally:
        await cache.aclose()


async def test_a_released_savepoint_waits_for_the_real_commit(app_factory: AppFactory
                                                              ) -> None:
    app = await app_factory()
    user = await make_user(app, "nested")
    runtime = runtime_of(app)
    before = runtime.callers.mark()
    assert before is not None
    async with runtime.session_factory() as db, db.begin():
        async with db.begin_nested():
            row = await db.get(User, user.id)
            assert row is not None
            row.is_active = False
        # Another worker reading now still sees the account active: nothing announced yet.
        assert runtime.callers.mark() == before
    assert runtime.callers.mark() not in (None, before)
