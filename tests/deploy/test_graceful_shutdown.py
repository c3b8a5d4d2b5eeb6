"""SIGTERM to `quill serve`: no new connections, requests in flight finish (within a bound),
live streams end with a retry hint, and a last audit checkpoint is written."""

from __future__ import annotations

import asyncio
import json
import signal
import socket
import subprocess
from collections.abc import AsyncIterator, Callable
from dataclasses import dataclass
from pathlib import Path

import httpx
import pytest
from sqlalchemy import select

from quill.audit.checkpoints import read_checkpoints
from quill.audit.models import AuditHead
from quill.cli.create_user import create_user
from quill.db.engine import make_engine, make_session_factory
from quill.migrations.run import upgrade
from quill.settings import Settings
from tests.deploy.processes import (
    quill_env,
    random_key,
    start_quill,
    stop,
    wait_until_ready,
)
from tests.events.sse import SseReader
from tests.loopback import free_port

PASSWORD = "graceful-shutdown-password-0123"
LOGIN = {"username": "grace", "password": PASSWORD}
# systemd and a test alike may only wait so long: this bounds every wait below.
BOUND_SECONDS = 30.0


@dataclass
class Server:
    base_url: str
    process: subprocess.Popen[bytes]
    settings: Settings

    def refuses_connections(self) -> bool:
        host, port = self.base_url.removeprefix("http://").split(":")
        try:
            with socket.create_connection((host, int(port)), timeout=1):
                return False
        except OSError:
            return True


async def _serve(tmp_path: Path, grace_seconds: int) -> Server:
    values = {"QUILL_DATA_DIR": str(tmp_path / "data"), "QUILL_SECRET_KEY": random_key(),
              "QUILL_AUDIT_KEY": random_key(), "QUILL_SHUTDOWN_GRACE_SECONDS": str(grace_seconds),
              # Only the shutdown writes a checkpoint in this test's lifetime.
              "QUILL_AUDIT_CHECKPOINT_SECONDS": "3600",
              "QUILL_ARGON2_MEMORY_KIB": "1024", "QUILL_ARGON2_TIME_COST": "1"}
    settings = Settings.model_validate(
        {key.removeprefix("QUILL_").lower(): value for key, value in values.items()})
    await asyncio.to_thread(upgrade, settings.database_url)
    await create_user(settings, "grace", "grace@example.org", "staff", None, "Grace",
                      PASSWORD)
    port = free_port()
    process = start_quill(port, quill_env(values), tmp_path / "quill.log")
    await asyncio.to_thread(wait_until_ready, f"http://127.0.0.1:{port}/api/health", process)
    return Server(f"http://127.0.0.1:{port}", process, settings)


@pytest.fixture
async def server(tmp_path: Path) -> AsyncIterator[Server]:
    running = await _serve(tmp_path, grace_seconds=5)
    try:
        yield running
    finally:
        stop(running.process)


@pytest.fixture
async def impatient_server(tmp_path: Path) -> AsyncIterator[Server]:
    running = await _serve(tmp_path, grace_seconds=1)
    try:
        yield running
    finally:
        stop(running.process)


async def _held_body(release: asyncio.Event) -> AsyncIterator[bytes]:
    """A login body sent in two parts, the second only once ``release`` is set."""
    text = json.dumps(LOGIN).encode()
    yield text[:10]
    await release.wait()
    yield text[10:]


async def _until(condition: Callable[[], bool]) -> None:
    for _ in range(int(BOUND_SECONDS / 0.05)):
        if condition():
            return
        await asyncio.sleep(0.05)
    raise AssertionError(f"not true within {BOUND_SECONDS:.0f} s")


async def _exit_code(process: subprocess.Popen[bytes]) -> int:
    return await asyncio.to_thread(process.wait, BOUND_SECONDS)


async def _head_seq(settings: Settings) -> int:
    engine = make_engine(settings.database_url)
    try:
        async with make_session_factory(engine)() as db:
            return (await db.execute(select(AuditHead.seq))).scalar_one()
    finally:
        await engine.dispose()


async def test_sigterm_drains_in_flight_work_and_ends_streams(server: Server) -> None:
    release = asyncio.Event()
    async with httpx.AsyncClient(base_url=server.base_url, timeout=BOUND_SECONDS) as http:
        assert (await http.post("/api/auth/login", json=LOGIN)).status_code == 200
        async with http.stream("GET", "/api/conversations/events") as response:
            reader = SseReader(response)
            assert await reader.block() == [": connected"]
            in_flight = asyncio.create_task(http.post(
                "/api/auth/login", content=_held_body(release),
                headers={"Content-Type": "application/json"}))
            # Nothing shows that the server has read the held request's headers: give it
            # a moment (a request it had not read yet would be refused, failing the test).
            await asyncio.sleep(0.5)
            server.process.send_signal(signal.SIGTERM)
            blocks = await asyncio.wait_for(reader.rest(), BOUND_SECONDS)
        await _until(server.refuses_connections)
        assert server.process.poll() is None  # still draining the held request
        release.set()
        finished = await in_flight
    assert finished.status_code == 200, finished.text
    assert any(line.startswith("retry: ") for line in blocks[-1]), blocks
    assert await _exit_code(server.process) in (0, -signal.SIGTERM)
    # The last checkpoint covers the whole chain, the login finished while draining too.
    key = server.settings.audit_key.encode()
    checkpoints = read_checkpoints(server.settings.audit_checkpoint_file, key)
    assert checkpoints, "no checkpoint written at shutdown"
    assert checkpoints[-1].seq == await _head_seq(server.settings)


async def test_a_request_that_never_finishes_does_not_hold_the_shutdown(
        impatient_server: Server) -> None:
    release = asyncio.Event()
    async with httpx.AsyncClient(base_url=impatient_server.base_url,
                                 timeout=BOUND_SECONDS) as http:
        stuck = asyncio.create_task(http.post(
            "/api/auth/login", content=_held_body(release),
            headers={"Content-Type": "application/json"}))
        await asyncio.sleep(0.5)
        impatient_server.process.send_signal(signal.SIGTERM)
        # Without the grace bound uvicorn would wait for this request for ever.
        code = await _exit_code(impatient_server.process)
        release.set()
        with pytest.raises(httpx.HTTPError):
            await stuck
    assert code in (0, -signal.SIGTERM)
