"""GET /api/conversations/events over real HTTP (uvicorn on loopback)."""

from __future__ import annotations

import asyncio
import contextlib
from collections.abc import AsyncIterator
from contextlib import asynccontextmanager

import httpx
import pytest
from fastapi import FastAPI
from sqlalchemy import update

from quill.auth.models import AuthSession
from quill.auth.sessions import SessionTokens, open_session
from quill.clock import ManualClock
from quill.events.bus import Event, InProcessEventBus
from quill.settings import Settings
from tests.conftest import running_app
from tests.events.sse import SseReader
from tests.helpers import logged_in, make_user, runtime_of
from tests.loopback import serve

STREAM = "/api/conversations/events"


@asynccontextmanager
async def stream(base_url: str, headers: dict[str, str]) -> AsyncIterator[SseReader]:
    """An open stream whose subscription is live (the server said so)."""
    async with (
        httpx.AsyncClient(base_url=base_url, timeout=10) as http,
        http.stream("GET", STREAM, headers=headers) as response,
    ):
        assert response.status_code == 200
        assert response.headers["content-type"].startswith("text/event-stream")
        reader = SseReader(response)
        assert await reader.block() == [": connected"]
        yield reader


async def test_events_reach_only_their_recipients(app: FastAPI) -> None:
    alice, bob = await logged_in(app, "alice"), await logged_in(app, "bob")
    bus = runtime_of(app).events
    async with serve(app) as base, stream(base, alice.headers) as a, stream(base, bob.headers) as b:
        await bus.publish(Event.create("message.created", 7, message_id=42,
                                       recipients=[alice.user_id]))
        await bus.publish(Event.create("conversation.updated", 8,
                                       recipients=[bob.user_id, alice.user_id]))
        assert await a.event() == ("message.created", {"conversation_id": 7, "message_id": 42})
        assert await a.event() == ("conversation.updated",
                                   {"conversation_id": 8, "message_id": None})
        # Bob's first event is the one addressed to him: alice's never reached his stream.
        assert await b.event() == ("conversation.updated",
                                   {"conversation_id": 8, "message_id": None})


async def test_wire_format_is_ids_only(app: FastAPI) -> None:
    alice = await logged_in(app, "alice")
    async with serve(app) as base, stream(base, alice.headers) as reader:
        await runtime_of(app).events.publish(
            Event.create("message.created", 3, message_id=9, recipients=[alice.user_id]))
        assert await reader.block() == [
            "event: message.created", 'data: {"conversation_id": 3, "message_id": 9}']


async def test_cookie_authenticates_the_stream(app: FastAPI) -> None:
    user = await make_user(app, "carol")
    runtime = runtime_of(app)
    async with runtime.session_factory() as db, db.begin():
        tokens = await open_session(db, app.state.wiring.get(SessionTokens), runtime.clock,
                                    runtime.ids, user, user_agent="tests", ip="127.0.0.1")
    cookie = {"Cookie": f"access_token={tokens.access_token}"}
    async with serve(app) as base, stream(base, cookie) as reader:
        await runtime.events.publish(
            Event.create("conversation.updated", 1, recipients=[user.id]))
        assert (await reader.event())[0] == "conversation.updated"


async def test_unauthenticated_is_401(client: httpx.AsyncClient) -> None:
    assert (await client.get(STREAM)).status_code == 401
    bad = await client.get(STREAM, headers={"Authorization": "Bearer not-a-token"})
    assert bad.status_code == 401
    assert bad.headers["content-type"] == "application/json"


@pytest.fixture
async def quick_ping_app(settings: Settings, clock: ManualClock) -> AsyncIterator[FastAPI]:
    """Pings every 50 ms, so an idle stream's keep-alive (and its session check) comes soon."""
    quick = {"events_ping_seconds": 0.05, "events_recheck_seconds": 0.05}
    async with running_app(settings.model_copy(update=quick), clock) as app:
        yield app


async def test_idle_stream_pings(quick_ping_app: FastAPI) -> None:
    app = quick_ping_app
    alice = await logged_in(app, "alice")
    async with serve(app) as base, stream(base, alice.headers) as reader:
        assert await reader.block() == [": ping"]


async def test_stream_ends_when_its_session_is_revoked(quick_ping_app: FastAPI) -> None:
    app = quick_ping_app
    alice = await logged_in(app, "alice")
    runtime = runtime_of(app)
    async with serve(app) as base, stream(base, alice.headers) as reader:
        async with runtime.session_factory() as db, db.begin():
            await db.execute(update(AuthSession).where(AuthSession.user_id == alice.user_id)
                             .values(revoked_at=runtime.clock.now()))
        assert all(block == [": ping"] for block in await reader.rest())


async def test_stream_holds_no_database_connection(app: FastAPI) -> None:
    alice = await logged_in(app, "alice")
    runtime = runtime_of(app)
    async with serve(app) as base, stream(base, alice.headers):
        assert runtime.engine.pool.checkedout() == 0  # type: ignore[attr-defined]


async def test_disconnect_ends_the_subscription(app: FastAPI) -> None:
    alice = await logged_in(app, "alice")
    bus = runtime_of(app).events
    assert isinstance(bus, InProcessEventBus)
    async with serve(app) as base:
        async with stream(base, alice.headers):
            assert bus.subscriber_count == 1
        # The server notices the hang-up on its own schedule; wait for that, bounded.
        async with asyncio.timeout(10):
            while bus.subscriber_count:  # noqa: ASYNC110
                await asyncio.sleep(0.01)


async def test_clinical_switch_off_is_503(app: FastAPI, client: httpx.AsyncClient) -> None:
    alice = await logged_in(app, "alice")
    runtime_of(app).settings.clinical_services_enabled = False
    response = await client.get(STREAM, headers=alice.headers)
    assert response.status_code == 503
    assert response.json() == {"detail": "Clinical services are disabled"}


@pytest.fixture
async def quick_check_app(settings: Settings, clock: ManualClock) -> AsyncIterator[FastAPI]:
    """Re-checks every 50 ms but pings only after the default 15 s of silence."""
    async with running_app(settings.model_copy(update={"events_recheck_seconds": 0.05}),
                           clock) as app:
        yield app


@asynccontextmanager
async def flooding(app: FastAPI, user_id: int) -> AsyncIterator[None]:
    """Keeps events flowing to ``user_id`` so its stream is never idle."""
    bus = runtime_of(app).events

    async def publish_forever() -> None:
        while True:
            await bus.publish(Event.create("conversation.updated", 1, recipients=[user_id]))
            await asyncio.sleep(0.005)

    task = asyncio.create_task(publish_forever())
    try:
        yield
    finally:
        task.cancel()
        with contextlib.suppress(asyncio.CancelledError):
            await task


async def _drains_to_the_end(reader: SseReader) -> list[list[str]]:
    # Bounded so that a stream which never ends fails the test instead of hanging it.
    async with asyncio.timeout(20):
        return await reader.rest()


async def test_busy_stream_ends_at_logout(quick_check_app: FastAPI) -> None:
    app = quick_check_app
    alice = await logged_in(app, "alice")
    async with serve(app) as base, flooding(app, alice.user_id), \
            stream(base, alice.headers) as reader:
        assert (await reader.event())[0] == "conversation.updated"
        async with httpx.AsyncClient(base_url=base) as http:
            out = await http.post("/api/auth/logout", headers=alice.headers)
        assert out.status_code == 200
        blocks = await _drains_to_the_end(reader)
    assert [": ping"] not in blocks  # it ended through the re-check, not an idle ping


async def test_busy_stream_ends_when_the_session_is_revoked(quick_check_app: FastAPI) -> None:
    app = quick_check_app
    alice = await logged_in(app, "alice")
    runtime = runtime_of(app)
    async with serve(app) as base, flooding(app, alice.user_id), \
            stream(base, alice.headers) as reader:
        assert (await reader.event())[0] == "conversation.updated"
        async with runtime.session_factory() as db, db.begin():
            await db.execute(update(AuthSession).where(AuthSession.user_id == alice.user_id)
                             .values(revoked_at=runtime.clock.now()))
        await _drains_to_the_end(reader)


async def test_busy_stream_ends_when_the_account_is_deactivated(
    quick_check_app: FastAPI,
) -> None:
    app = quick_check_app
    admin = await logged_in(app, "admin", level="admin")
    alice = await logged_in(app, "alice")
    async with serve(app) as base, flooding(app, alice.user_id), \
            stream(base, alice.headers) as reader:
        assert (await reader.event())[0] == "conversation.updated"
        async with httpx.AsyncClient(base_url=base) as http:
            off = await http.patch(f"/api/users/{alice.user_id}", json={"is_active": False},
                                   headers=admin.headers)
        assert off.status_code == 200
        await _drains_to_the_end(reader)
