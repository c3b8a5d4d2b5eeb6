"""Two `quill serve` processes with data directories of their own, on one PostgreSQL (and one
Redis), stand for two hosts that share nothing on disk."""

from __future__ import annotations

import asyncio
import os
import subprocess
import sys
import uuid
from collections.abc import AsyncIterator, Iterator
from contextlib import asynccontextmanager, contextmanager
from dataclasses import dataclass
from itertools import count
from pathlib import Path

import httpx
import pytest
import redis.asyncio as aioredis
from cryptography.hazmat.primitives.asymmetric import ec
from redis.exceptions import RedisError
from sqlalchemy import text

from quill.app import create_app
from quill.db.engine import make_engine
from quill.migrations.run import upgrade
from quill.push.keys import b64url
from tests.access.world import World, build_world
from tests.auth.support import answered_within
from tests.conftest import TEST_AUDIT_KEY, make_settings
from tests.databases import postgres_database
from tests.events.test_stream import stream
from tests.helpers import DEFAULT_PASSWORD
from tests.loopback import free_port, wait_until_healthy

SECRET_KEY = "several-hosts-secret-key-0123456789-abcdefghij"
REDIS_URL = os.environ.get("QUILL_TEST_REDIS_URL", "redis://127.0.0.1:6379/0")
# Each login comes through the "load balancer" from an address of its own, so the
# per-client login limit never gets in the way of the per-username one under test.
_addresses = count(1)


def _forwarded() -> dict[str, str]:
    number = next(_addresses)
    return {"X-Forwarded-For": f"10.77.{number // 250}.{number % 250 + 1}"}


@dataclass
class Host:
    name: str
    data_dir: Path
    env: dict[str, str]
    process: subprocess.Popen[bytes]
    http: httpx.AsyncClient

    async def bearer(self, username: str) -> dict[str, str]:
        response = await self.http.post(
            "/api/auth/login", headers=_forwarded(),
            json={"username": username, "password": DEFAULT_PASSWORD})
        assert response.status_code == 200, response.text
        return {"Authorization": f"Bearer {response.cookies['access_token']}"}

    async def me(self, headers: dict[str, str]) -> httpx.Response:
        return await self.http.get("/api/auth/me", headers=headers)


@dataclass
class Deployment:
    database_url: str
    world: World
    first: Host
    second: Host


def _host_env(name: str, database_url: str, data_dir: Path, redis_prefix: str | None
              ) -> dict[str, str]:
    env = {key: value for key, value in os.environ.items() if not key.startswith("QUILL_")}
    vapid = ec.generate_private_key(ec.SECP256R1()).private_numbers().private_value
    env.update({
        "QUILL_ENV": "production", "QUILL_DATABASE_URL": database_url,
        "QUILL_DATA_DIR": str(data_dir), "QUILL_SECRET_KEY": SECRET_KEY,
        "QUILL_AUDIT_KEY": TEST_AUDIT_KEY,
        "QUILL_VAPID_PRIVATE_KEY": b64url(vapid.to_bytes(32, "big")),
        "QUILL_CALLER_CACHE_SECONDS": "3600", "QUILL_AUDIT_CHECKPOINT_SECONDS": "0.2",
        "QUILL_TRUSTED_PROXIES": "127.0.0.1", "QUILL_LOG_LEVEL": "WARNING",
        "QUILL_EVENTS_PING_SECONDS": "1",
    })
    if redis_prefix is not None:
        env.update({"QUILL_REDIS_URL": REDIS_URL, "QUILL_REDIS_PREFIX": redis_prefix})
    return env


@contextmanager
def _processes(envs: list[dict[str, str]], ports: list[int]
               ) -> Iterator[list[subprocess.Popen[bytes]]]:
    started: list[subprocess.Popen[bytes]] = []
    try:
        for env, port in zip(envs, ports, strict=True):
            started.append(subprocess.Popen(
                [sys.executable, "-m", "quill", "serve", "--port", str(port)],
                env=env, stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL))
        yield started
    finally:
        for process in started:
            process.terminate()
        for process in started:
            try:
                process.wait(timeout=30)
            except subprocess.TimeoutExpired:
                process.kill()
                process.wait(timeout=30)


async def _redis_prefix_or_skip() -> str:
    client = aioredis.Redis.from_url(REDIS_URL)
    try:
        await client.ping()
    except (RedisError, OSError) as exc:
        if os.environ.get("CI") == "true":
            pytest.fail(f"Redis is required under CI=true but did not answer: {exc}")
        pytest.skip(f"Redis not reachable: {exc}")
    finally:
        await client.aclose()
    return f"quill-test-{uuid.uuid4().hex[:12]}"


async def _forget_redis_keys(prefix: str) -> None:
    client = aioredis.Redis.from_url(REDIS_URL)
    try:
        keys = [key async for key in client.scan_iter(match=f"{prefix}:*")]
        if keys:
            await client.delete(*keys)
    finally:
        await client.aclose()


async def _seed(database_url: str, data_dir: Path) -> World:
    """Users and patients, written by an in-process app on the same database."""
    settings = make_settings(database_url, data_dir, secret_key=SECRET_KEY)
    app = create_app(settings)
    async with app.router.lifespan_context(app):
        return await build_world(app, prefix="h-", headers=False)


@asynccontextmanager
async def deployment(tmp_path: Path, *, redis: bool) -> AsyncIterator[Deployment]:
    prefix = await _redis_prefix_or_skip() if redis else None
    async with postgres_database() as database_url:
        await asyncio.to_thread(upgrade, database_url)
        world = await _seed(database_url, tmp_path / "seed")
        names, ports = ["first", "second"], [free_port(), free_port()]
        dirs = [tmp_path / name for name in names]
        envs = [_host_env(name, database_url, data_dir, prefix)
                for name, data_dir in zip(names, dirs, strict=True)]
        try:
            with _processes(envs, ports) as processes:
                async with (
                    httpx.AsyncClient(base_url=f"http://127.0.0.1:{ports[0]}", timeout=30) as a,
                    httpx.AsyncClient(base_url=f"http://127.0.0.1:{ports[1]}", timeout=30) as b,
                ):
                    await asyncio.gather(wait_until_healthy(a, processes[0]),
                                         wait_until_healthy(b, processes[1]))
                    yield Deployment(
                        database_url, world,
                        Host(names[0], dirs[0], envs[0], processes[0], a),
                        Host(names[1], dirs[1], envs[1], processes[1], b))
        finally:
            if prefix is not None:
                await _forget_redis_keys(prefix)


@pytest.fixture(scope="module")
async def with_redis(tmp_path_factory: pytest.TempPathFactory) -> AsyncIterator[Deployment]:
    async with deployment(tmp_path_factory.mktemp("hosts-redis"), redis=True) as hosts:
        yield hosts


@pytest.fixture(scope="module")
async def without_redis(tmp_path_factory: pytest.TempPathFactory
                        ) -> AsyncIterator[Deployment]:
    async with deployment(tmp_path_factory.mktemp("hosts-postgres"), redis=False) as hosts:
        yield hosts


async def _revoke_behind_quills_back(database_url: str, username: str) -> None:
    """An operator's SQL: no Quill commit, so nothing is announced."""
    engine = make_engine(database_url)
    try:
        async with engine.begin() as connection:
            await connection.execute(text(
                "UPDATE auth_sessions SET revoked_at = now() WHERE user_id = "
                "(SELECT id FROM users WHERE username = :name)"), {"name": username})
    finally:
        await engine.dispose()


async def _check_revocation_crosses_hosts(hosts: Deployment) -> None:
    first, second = hosts.first, hosts.second
    username = hosts.world.users["staff_other"].username
    phone, laptop = await first.bearer(username), await first.bearer(username)
    assert (await second.me(phone)).status_code == 200  # now cached on the second host
    # The cache is really on there: a change nobody announces is not seen.
    control = await first.bearer(hosts.world.users["external"].username)
    assert (await second.me(control)).status_code == 200
    await _revoke_behind_quills_back(hosts.database_url,
                                     hosts.world.users["external"].username)
    assert (await second.me(control)).status_code == 200
    sessions = (await first.http.get("/api/auth/sessions", headers=laptop)).json()["sessions"]
    # Sessions list newest first: the phone's is the other live one.
    phone_session = next(s["id"] for s in sessions if not s["current"])
    revoked = await first.http.delete(f"/api/auth/sessions/{phone_session}", headers=laptop)
    assert revoked.status_code == 200, revoked.text
    assert await answered_within(lambda: second.me(phone), 401)
    assert (await second.me(laptop)).status_code == 200
    # Logging out on the second host ends the session on the first, too.
    assert (await first.me(laptop)).status_code == 200
    assert (await second.http.post("/api/auth/logout", headers=laptop)).status_code == 200
    assert await answered_within(lambda: first.me(laptop), 401)


async def _check_deactivation_crosses_hosts(hosts: Deployment, target: str) -> None:
    first, second = hosts.first, hosts.second
    admin = await first.bearer(hosts.world.users["superadmin"].username)
    user = await second.bearer(hosts.world.users[target].username)
    assert (await second.me(user)).status_code == 200
    user_id = hosts.world.users[target].id
    changed = await first.http.patch(f"/api/users/{user_id}", headers=admin,
                                     json={"is_active": False})
    assert changed.status_code == 200, changed.text
    assert await answered_within(lambda: second.me(user), 401)


async def test_revocation_and_logout_cross_hosts_through_redis(with_redis: Deployment
                                                               ) -> None:
    await _check_revocation_crosses_hosts(with_redis)


async def test_deactivation_crosses_hosts_through_redis(with_redis: Deployment) -> None:
    await _check_deactivation_crosses_hosts(with_redis, "patient")


async def test_login_limit_is_counted_across_hosts(with_redis: Deployment) -> None:
    statuses = []
    for attempt in range(6):
        host = with_redis.first if attempt % 2 == 0 else with_redis.second
        response = await host.http.post(
            "/api/auth/login", headers=_forwarded(),
            json={"username": "h-limited", "password": "not the password"})
        statuses.append(response.status_code)
    # Six clients, one username, two hosts: the sixth attempt overall is refused.
    assert statuses == [400, 400, 400, 400, 400, 429]


async def test_a_post_on_one_host_reaches_a_stream_on_the_other(with_redis: Deployment
                                                                ) -> None:
    world = with_redis.world
    poster = await with_redis.first.bearer(world.users["staff_same"].username)
    reader_headers = await with_redis.second.bearer(world.users["admin"].username)
    created = await with_redis.first.http.post("/api/conversations", headers=poster, json={
        "patient_id": world.patient_a, "subject": "Across hosts",
        "initial_message": "Opened on the first host.",
        "participant_ids": [world.users["admin"].id]})
    assert created.status_code == 200, created.text
    thread_id = created.json()["id"]
    base = str(with_redis.second.http.base_url).rstrip("/")
    async with stream(base, reader_headers) as reader:
        posted = await with_redis.first.http.post(
            f"/api/conversations/{thread_id}/messages", headers=poster,
            json={"body": "Posted on the first host."})
        assert posted.status_code == 200, posted.text
        async with asyncio.timeout(20):
            kind, data = await reader.event()
    assert (kind, data) == ("message.created",
                            {"conversation_id": thread_id, "message_id": posted.json()["id"]})


def _verify_audit(host: Host, *checkpoints: Path) -> subprocess.CompletedProcess[str]:
    options = [arg for path in checkpoints for arg in ("--checkpoints", str(path))]
    return subprocess.run([sys.executable, "-m", "quill", "verify-audit", *options],
                          env=host.env, capture_output=True, text=True, timeout=120,
                          check=False)


async def _checkpointed(host: Host) -> bool:
    path = host.data_dir / "audit-checkpoints.jsonl"
    for _ in range(300):
        if path.exists() and path.read_text().strip():
            return True
        await asyncio.sleep(0.1)
    return False


async def test_each_host_checkpoints_the_one_chain_and_keeps_nothing_else(
    with_redis: Deployment,
) -> None:
    # Audited work on both hosts, so both have a head to checkpoint.
    for host in (with_redis.first, with_redis.second):
        assert (await host.me(await host.bearer(
            with_redis.world.users["staff_other"].username))).status_code == 200
    hosts = (with_redis.first, with_redis.second)
    assert all([await _checkpointed(host) for host in hosts])
    for host in hosts:
        # Keys come from settings; the only file a host writes is its own checkpoints.
        assert sorted(p.name for p in host.data_dir.iterdir()) == ["audit-checkpoints.jsonl"]
        result = _verify_audit(host)
        assert result.returncode == 0, result.stdout + result.stderr
        assert "audit chain ok" in result.stdout
    both = _verify_audit(with_redis.first, *(h.data_dir / "audit-checkpoints.jsonl"
                                             for h in hosts))
    assert both.returncode == 0, both.stdout + both.stderr


@pytest.mark.parametrize("check", ["revocation", "deactivation"])
async def test_changes_cross_hosts_through_postgres_without_redis(
    without_redis: Deployment, check: str
) -> None:
    if check == "revocation":
        await _check_revocation_crosses_hosts(without_redis)
    else:
        await _check_deactivation_crosses_hosts(without_redis, "patient")
    # LISTEN/NOTIFY, not the single-host file, carried the change.
    assert not (without_redis.first.data_dir / "caller-generation").exists()

