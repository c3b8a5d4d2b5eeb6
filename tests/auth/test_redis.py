"""Two app instances sharing one Redis (and one database) behave as one deployment."""

from __future__ import annotations

import socket

import redis.asyncio as aioredis

from quill.auth.ratelimit import RateLimiter
from tests.auth.conftest import AppFactory, SharedRedis
from tests.auth.support import answered_within, csrf, login, new_client
from tests.helpers import make_user, runtime_of


async def test_logout_on_one_instance_is_honoured_by_the_other(
    app_factory: AppFactory, shared_redis: SharedRedis
) -> None:
    url, prefix = shared_redis
    first = await app_factory(redis_url=url, redis_prefix=prefix)
    second = await app_factory(redis_url=url, redis_prefix=prefix)
    await make_user(first, "olga")
    async with new_client(first) as on_first:
        assert (await login(on_first, "olga")).status_code == 200
        bearer = {"Authorization": f"Bearer {on_first.cookies.get('access_token')}"}
        async with new_client(second) as on_second:
            assert (await on_second.get("/api/auth/me", headers=bearer)).status_code == 200
            assert len(runtime_of(second).callers) == 1
            assert (await on_first.post("/api/auth/logout",
                                        headers=csrf(on_first))).status_code == 200
            assert await answered_within(
                lambda: on_second.get("/api/auth/me", headers=bearer), 401)


async def test_login_rate_limit_is_counted_across_instances(
    app_factory: AppFactory, shared_redis: SharedRedis
) -> None:
    url, prefix = shared_redis
    first = await app_factory(redis_url=url, redis_prefix=prefix)
    second = await app_factory(redis_url=url, redis_prefix=prefix)
    assert isinstance(runtime_of(first).limiter, RateLimiter)
    statuses = []
    for attempt in range(6):
        target = first if attempt % 2 == 0 else second
        async with new_client(target, f"192.0.2.{attempt + 1}") as http:
            statuses.append((await login(http, "shared-name", "wrong password")).status_code)
    # Six different clients, one username: the sixth attempt overall is refused.
    assert statuses == [400, 400, 400, 400, 400, 429]
    client = aioredis.Redis.from_url(url)
    try:
        assert [key async for key in client.scan_iter(match=f"*{prefix}*")]
    finally:
        await client.aclose()


async def test_unreachable_redis_refuses_rather_than_running_unlimited(
    app_factory: AppFactory,
) -> None:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        port = sock.getsockname()[1]
    app = await app_factory(redis_url=f"redis://127.0.0.1:{port}/0")
    async with new_client(app) as http:
        response = await login(http, "anyone", "whatever pass")
    assert response.status_code == 503
    assert response.json() == {"detail": "Service temporarily unavailable"}
