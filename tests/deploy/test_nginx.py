"""The shipped nginx site in front of two `quill serve` processes on PostgreSQL and Redis.

The client connects from 127.0.0.2, so its address differs from the proxy's own
(127.0.0.1, the only trusted proxy): the audit entry shows which one Quill believed.
"""

from __future__ import annotations

import asyncio
import contextlib
import json
import signal
import ssl
import subprocess
import uuid
from collections.abc import AsyncIterator
from dataclasses import dataclass, field
from pathlib import Path

import httpx
import pytest
from sqlalchemy import select

from quill.audit.models import AuditEvent
from quill.db.engine import make_engine, make_session_factory
from quill.demo import seed
from quill.migrations.run import upgrade
from quill.settings import Settings
from tests.databases import postgres_database
from tests.deploy.processes import (
    nginx_binary,
    quill_env,
    random_key,
    running_nginx,
    self_signed,
    start_quill,
    stop,
    wait_until_ready,
)
from tests.events.sse import SseReader
from tests.loopback import free_port

CLIENT_ADDRESS = "127.0.0.2"  # where the test's client connects, and so comes from
MAX_BODY_BYTES = 65536
PASSWORD = "deploy-test-password-0123456789"
STREAM = "/api/conversations/events"
pytestmark = pytest.mark.filterwarnings("ignore::ResourceWarning")


@dataclass
class Instance:
    port: int
    env: dict[str, str]
    log: Path
    process: subprocess.Popen[bytes]

    @property
    def health(self) -> str:
        return f"http://127.0.0.1:{self.port}/api/health"

    def log_lines(self) -> list[dict[str, object]]:
        lines = []
        for raw in self.log.read_text().splitlines():
            with contextlib.suppress(ValueError):
                lines.append(json.loads(raw))
        return lines


@dataclass
class Stack:
    base_url: str
    tls: ssl.SSLContext
    database_url: str
    instances: list[Instance] = field(default_factory=list)

    def client(self) -> httpx.AsyncClient:
        """A client whose connections come from CLIENT_ADDRESS."""
        transport = httpx.AsyncHTTPTransport(verify=self.tls, local_address=CLIENT_ADDRESS)
        return httpx.AsyncClient(base_url=self.base_url, transport=transport, timeout=20)


def _instance_env(database_url: str, data_dir: Path, shared: dict[str, str]) -> dict[str, str]:
    data_dir.mkdir(parents=True, exist_ok=True)
    return quill_env({**shared, "QUILL_DATABASE_URL": database_url,
                      "QUILL_DATA_DIR": str(data_dir)})


@pytest.fixture(scope="module")
async def stack(tmp_path_factory: pytest.TempPathFactory) -> AsyncIterator[Stack]:
    nginx_binary()  # skip (or fail under CI) before building anything
    root = tmp_path_factory.mktemp("deploy")
    shared = {
        "QUILL_ENV": "production", "QUILL_SECRET_KEY": random_key(),
        "QUILL_AUDIT_KEY": random_key(), "QUILL_REDIS_URL": "redis://127.0.0.1:6379/0",
        "QUILL_REDIS_PREFIX": f"quill-deploy-{uuid.uuid4().hex}",
        "QUILL_TRUSTED_PROXIES": "127.0.0.1", "QUILL_MAX_BODY_BYTES": str(MAX_BODY_BYTES),
        "QUILL_SHUTDOWN_GRACE_SECONDS": "5", "QUILL_LOG_LEVEL": "INFO",
        # Cheap hashing keeps the logins quick; the parameters are tested elsewhere.
        "QUILL_ARGON2_MEMORY_KIB": "1024", "QUILL_ARGON2_TIME_COST": "1",
        "QUILL_DEMO_PASSWORD": PASSWORD,
    }
    async with postgres_database() as database_url:
        # Migrated once here: two instances migrating one empty database would race.
        await asyncio.to_thread(upgrade, database_url)
        cert, key = self_signed(root, CLIENT_ADDRESS)
        tls = ssl.create_default_context(cafile=str(cert))
        instances: list[Instance] = []
        try:
            for name in ("a", "b"):
                port = free_port()
                env = _instance_env(database_url, root / name, shared)
                log = root / f"{name}.log"
                instances.append(Instance(port, env, log, start_quill(port, env, log)))
            # The demo accounts and threads, written while the instances start.
            await seed(Settings.model_validate({
                **{key.removeprefix("QUILL_").lower(): value for key, value in shared.items()},
                "database_url": database_url, "data_dir": root / "seed"}))
            for instance in instances:
                await asyncio.to_thread(wait_until_ready, instance.health, instance.process)
            https_port = free_port(CLIENT_ADDRESS)
            values = {
                "SERVER_NAME": "localhost",
                "HTTPS_LISTEN": f"{CLIENT_ADDRESS}:{https_port}",
                "HTTP_LISTEN": f"{CLIENT_ADDRESS}:{free_port(CLIENT_ADDRESS)}",
                "TLS_CERTIFICATE": str(cert), "TLS_CERTIFICATE_KEY": str(key),
                "QUILL_UPSTREAM_1": f"127.0.0.1:{instances[0].port}",
                "QUILL_UPSTREAM_2": f"127.0.0.1:{instances[1].port}",
                "QUILL_MAX_BODY_BYTES": str(MAX_BODY_BYTES),
            }
            base_url = f"https://{CLIENT_ADDRESS}:{https_port}"
            with running_nginx(root / "nginx", values, f"{base_url}/api/health", tls):
                yield Stack(base_url, tls, database_url, instances)
        finally:
            for instance in instances:
                stop(instance.process)


async def _login(http: httpx.AsyncClient, username: str, **headers: str) -> None:
    response = await http.post("/api/auth/login", headers=headers,
                               json={"username": username, "password": PASSWORD})
    assert response.status_code == 200, response.text
    http.headers["X-CSRF-Token"] = http.cookies["XSRF-TOKEN"]


async def _audited_addresses(database_url: str, action: str) -> list[str | None]:
    engine = make_engine(database_url)
    try:
        async with make_session_factory(engine)() as db:
            rows = await db.execute(select(AuditEvent.client_address)
                                    .where(AuditEvent.action == action)
                                    .order_by(AuditEvent.seq))
            return list(rows.scalars())
    finally:
        await engine.dispose()


async def test_login_records_the_client_and_a_forged_forward_is_dropped(stack: Stack) -> None:
    async with stack.client() as http:
        await _login(http, "patient.alice", **{"X-Forwarded-For": "203.0.113.9"})
        me = await http.get("/api/auth/me")
    assert me.status_code == 200
    assert me.json()["username"] == "patient.alice"
    # nginx replaced the forged header with the address it saw; Quill believed nginx.
    assert await _audited_addresses(stack.database_url, "auth.login") == [CLIENT_ADDRESS]


async def test_plain_http_redirects_to_https(stack: Stack) -> None:
    site = (Path(stack.instances[0].env["QUILL_DATA_DIR"]).parent / "nginx" / "quill.conf")
    listen = next(line.split()[1].rstrip(";") for line in site.read_text().splitlines()
                  if line.strip().startswith("listen") and "ssl" not in line)
    async with httpx.AsyncClient() as http:
        response = await http.get(f"http://{listen}/api/health", headers={"Host": "localhost"})
    assert response.status_code == 301
    assert response.headers["location"] == "https://localhost/api/health"


async def test_bodies_over_quill_limit_stop_at_nginx(stack: Stack) -> None:
    async with stack.client() as http:
        response = await http.post("/api/auth/login", content=b"x" * (MAX_BODY_BYTES + 1),
                                   headers={"Content-Type": "application/json"})
    assert response.status_code == 413
    assert response.headers["content-type"].startswith("text/html")  # nginx's own page
    assert not any(line.get("status") == 413 for instance in stack.instances
                   for line in instance.log_lines())


async def _open_stream(http: httpx.AsyncClient, stack: contextlib.AsyncExitStack
                       ) -> SseReader:
    response = await stack.enter_async_context(http.stream("GET", STREAM))
    assert response.status_code == 200
    assert response.headers["content-type"].startswith("text/event-stream")
    reader = SseReader(response)
    assert await reader.block() == [": connected"]
    return reader


def _posted_on(instance: Instance) -> int:
    route = "/api/conversations/{conversation_id}/messages"
    return sum(1 for line in instance.log_lines()
               if line.get("route") == route and line.get("method") == "POST")


async def test_live_event_crosses_instances_through_the_proxy(stack: Stack) -> None:
    async with (stack.client() as nurse, stack.client() as doctor,
                contextlib.AsyncExitStack() as streams):
        await _login(nurse, "nurse.nia")
        await _login(doctor, "dr.cardio")
        listing = (await doctor.get("/api/conversations")).json()
        thread = next(item["id"] for item in listing["conversations"]
                      if item["subject"] == "Echo follow-up")
        reader = await _open_stream(nurse, streams)
        posted = []
        # nginx takes turns: two posts in a row land on different instances, so one of
        # them was published on the instance that does not hold the stream.
        for text in ("first", "second"):
            response = await doctor.post(f"/api/conversations/{thread}/messages",
                                         json={"body": text})
            assert response.status_code == 200, response.text
            posted.append(response.json()["id"])
        heard = [await asyncio.wait_for(reader.event(), 15) for _ in posted]
    assert heard == [("message.created", {"conversation_id": thread, "message_id": m})
                     for m in posted]
    # Each instance writes its request line after the response has gone: wait for both.
    counts = [_posted_on(instance) for instance in stack.instances]
    for _ in range(100):  # 10 s at most
        if sum(counts) >= len(posted):
            break
        await asyncio.sleep(0.1)
        counts = [_posted_on(instance) for instance in stack.instances]
    assert counts == [1, 1]


async def _polls(http: httpx.AsyncClient, outcomes: list[int | str], done: asyncio.Event
                 ) -> None:
    while not done.is_set():
        try:
            response = await http.get("/api/conversations")
            outcomes.append(response.status_code)
        except httpx.HTTPError as exc:
            outcomes.append(type(exc).__name__)


async def _more_polls(outcomes: list[int | str], count: int) -> None:
    target = len(outcomes) + count
    for _ in range(600):  # 30 s at most
        if len(outcomes) >= target:
            return
        await asyncio.sleep(0.05)
    raise AssertionError(f"only {len(outcomes)} polls, expected {target}")


async def test_graceful_restart_of_one_instance_loses_no_read(stack: Stack) -> None:
    restarted = stack.instances[0]
    outcomes: list[int | str] = []
    done = asyncio.Event()
    async with stack.client() as http, contextlib.AsyncExitStack() as streams:
        await _login(http, "dr.cardio")
        # Opened one after the other, so nginx puts one stream on each instance.
        readers = [await _open_stream(http, streams) for _ in range(2)]
        endings = [asyncio.create_task(reader.rest()) for reader in readers]
        poller = asyncio.create_task(_polls(http, outcomes, done))
        try:
            await _more_polls(outcomes, 5)
            exit_code = await asyncio.to_thread(stop, restarted.process)
            ended, _ = await asyncio.wait(endings, timeout=15,
                                          return_when=asyncio.FIRST_COMPLETED)
            polls_while_down = len(outcomes)
            restarted.process = start_quill(restarted.port, restarted.env, restarted.log)
            await asyncio.to_thread(wait_until_ready, restarted.health, restarted.process)
            await _more_polls(outcomes, 20)
        finally:
            done.set()
            await poller
            for ending in endings:
                ending.cancel()
    # uvicorn, once drained, ends by raising the signal it caught again, as the default
    # action would have; systemd counts that as a clean stop.
    assert exit_code in (0, -signal.SIGTERM)
    # The stream on the stopped instance ended with a reconnection hint, through nginx;
    # the one on the other instance stayed open.
    assert len(ended) == 1
    last_block = next(iter(ended)).result()[-1]
    assert any(line.startswith("retry: ") for line in last_block), last_block
    assert polls_while_down > 5
    assert outcomes == [200] * len(outcomes)
