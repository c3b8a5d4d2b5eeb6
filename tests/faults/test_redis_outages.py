"""A Redis server of the test's own, restarted and stopped under running apps."""

from __future__ import annotations

import asyncio
import json
from collections.abc import AsyncIterator, Callable, Iterator
from contextlib import asynccontextmanager
from pathlib import Path
from typing import Any

import httpx
import pytest
from fastapi import FastAPI

from quill.events.bus import Event
from quill.events.redis_bus import RedisEventBus
from quill.migrations.run import upgrade
from tests.events.sse import SseReader
from tests.faults.apps import GUARD_SECONDS, fault_app, http_client
from tests.faults.servers import RedisServer, redis_server
from tests.helpers import DEFAULT_PASSWORD, LoggedIn, logged_in, make_user, runtime_of
from tests.loopback import serve

STREAM = "/api/conversations/events"


@pytest.fixture
def redis(tmp_path: Path) -> Iterator[RedisServer]:
    with redis_server(tmp_path) as server:
        yield server


@pytest.fixture
async def database(tmp_path: Path) -> str:
    url = f"sqlite:///{tmp_path / 'quill.db'}"
    await asyncio.to_thread(upgrade, url)
    return url


def _bus(app: FastAPI) -> RedisEventBus:
    bus = runtime_of(app).events
    assert isinstance(bus, RedisEventBus)
    return bus


@asynccontextmanager
async def _stream(base: str, user: LoggedIn) -> AsyncIterator[tuple[list[str], SseReader]]:
    """An open stream and its first block (what it said on opening)."""
    async with (
        httpx.AsyncClient(base_url=base, timeout=GUARD_SECONDS) as http,
        http.stream("GET", STREAM, headers=user.headers) as response,
    ):
        assert response.status_code == 200
        reader = SseReader(response)
        yield await reader.block(), reader


async def _wait_until(check: Callable[[], bool]) -> None:
    """Poll a state the bus keeps as a plain flag (it offers no event to wait on)."""
    async with asyncio.timeout(GUARD_SECONDS):
        while not check():  # noqa: ASYNC110
            await asyncio.sleep(0.02)


async def _next_event(reader: SseReader) -> tuple[str, dict[str, Any]]:
    """The next event, past comments (pings, fan-out notices)."""
    async with asyncio.timeout(GUARD_SECONDS):
        while True:
            lines = await reader.block()
            if all(line.startswith(":") for line in lines):
                continue
            fields = dict(line.split(": ", 1) for line in lines)
            return fields["event"], json.loads(fields["data"])


async def _blocks_through_next_event(reader: SseReader) -> list[list[str]]:
    """Every block up to and including the next event."""
    blocks: list[list[str]] = []
    async with asyncio.timeout(GUARD_SECONDS):
        while not blocks or all(line.startswith(":") for line in blocks[-1]):
            blocks.append(await reader.block())
    return blocks


def _note(user: LoggedIn, conversation: int) -> Event:
    return Event.create("message.created", conversation, message_id=conversation,
                        recipients=[user.user_id])


async def test_first_login_after_a_redis_restart_succeeds(
    redis: RedisServer, database: str, tmp_path: Path,
) -> None:
    async with fault_app(database, tmp_path, redis_url=redis.url) as app, \
            http_client(app) as http:
        await make_user(app, "dora")
        body = {"username": "dora", "password": DEFAULT_PASSWORD}
        assert (await http.post("/api/auth/login", json=body)).status_code == 200
        await asyncio.to_thread(redis.restart)
        # The pooled connection died with the old server: retried once on a new one.
        assert (await http.post("/api/auth/login", json=body)).status_code == 200


async def test_first_event_after_a_redis_restart_is_delivered(
    redis: RedisServer, database: str, tmp_path: Path,
) -> None:
    async with fault_app(database, tmp_path, redis_url=redis.url) as app, serve(app) as base:
        erin = await logged_in(app, "erin")
        bus = _bus(app)
        async with _stream(base, erin) as (opened, reader):
            assert opened == [": connected"]
            await asyncio.to_thread(redis.restart)
            # Published at once, before the listener has even noticed the restart.
            await bus.publish(_note(erin, 1))
            assert await _next_event(reader) == ("message.created",
                                            {"conversation_id": 1, "message_id": 1})


async def test_no_event_from_another_worker_is_lost_once_redis_is_back(
    redis: RedisServer, database: str, tmp_path: Path,
) -> None:
    async with (
        fault_app(database, tmp_path, redis_url=redis.url) as listening,
        fault_app(database, tmp_path, redis_url=redis.url) as publishing,
        serve(listening) as base,
    ):
        fred = await logged_in(listening, "fred")
        async with _stream(base, fred) as (_opened, reader):
            # A restart in two steps, so the test knows the listener saw it go.
            await asyncio.to_thread(redis.stop)
            await _wait_until(lambda: not _bus(listening).fanout_available)
            await asyncio.to_thread(redis.start)
            await _wait_until(lambda: _bus(listening).fanout_available)
            await _bus(publishing).publish(_note(fred, 2))
            assert await _next_event(reader) == ("message.created",
                                            {"conversation_id": 2, "message_id": 2})


async def test_stream_opened_while_redis_is_down_says_so_and_gets_local_events(
    redis: RedisServer, database: str, tmp_path: Path,
) -> None:
    async with fault_app(database, tmp_path, redis_url=redis.url) as app, serve(app) as base:
        gina = await logged_in(app, "gina")
        await asyncio.to_thread(redis.stop)
        async with _stream(base, gina) as (opened, reader):
            assert len(opened) == 1
            assert "fan-out unavailable" in opened[0]
            assert opened != [": connected"]
            await _bus(app).publish(_note(gina, 3))
            assert await _next_event(reader) == ("message.created",
                                                 {"conversation_id": 3, "message_id": 3})
            await asyncio.to_thread(redis.start)
            await _wait_until(lambda: _bus(app).fanout_available)
            # The stream says so at its next wake-up, at the latest with the next event.
            await _bus(app).publish(_note(gina, 4))
            blocks = await _blocks_through_next_event(reader)
            assert [": fan-out restored"] in blocks
            assert blocks[-1] == ["event: message.created",
                                  'data: {"conversation_id": 4, "message_id": 4}']


async def test_ready_names_redis_while_it_is_down(
    redis: RedisServer, database: str, tmp_path: Path,
) -> None:
    async with fault_app(database, tmp_path, redis_url=redis.url) as app, \
            http_client(app) as http:
        up = await http.get("/api/health/ready")
        assert up.status_code == 200
        assert up.json() == {"status": "ready", "services": {
            "auth_db": {"available": True}, "fhir": {"available": True},
            "ehrbase": {"available": True}, "redis": {"available": True}}}
        await asyncio.to_thread(redis.stop)
        down = await http.get("/api/health/ready")
        assert down.status_code == 503
        assert int(down.headers["Retry-After"]) > 0
        assert down.json()["services"]["redis"] == {"available": False}
        assert down.json()["services"]["auth_db"] == {"available": True}
        # /api/health does not report Redis: its shape is the API's.
        health = await http.get("/api/health")
        assert health.status_code == 200
        assert set(health.json()["services"]) == {"auth_db", "fhir", "ehrbase"}
        assert (await http.get("/api/health/live")).json() == {"status": "alive"}
