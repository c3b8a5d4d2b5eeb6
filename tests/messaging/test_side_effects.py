"""What happens around a message: live events after commit, and nothing half-written."""

from __future__ import annotations

import asyncio
import socket
from pathlib import Path
from typing import Any

import httpx
import pytest
from fastapi import FastAPI
from sqlalchemy import func, select

from quill.app import create_app
from quill.clock import ManualClock
from quill.events.bus import Event
from quill.messaging.models import Conversation, ConversationParticipant, Message
from quill.settings import Settings
from tests.conftest import make_settings
from tests.helpers import runtime_of
from tests.messaging.support import messaging_world, start_thread


@pytest.fixture
def settings(database_url: str, tmp_path: Path) -> Settings:
    # No periodic audit checkpoint during these tests: when loading data blocks the event
    # loop for longer than the interval (a busy machine), the overdue checkpoint's query
    # lands in the statement count of the next request.
    return make_settings(database_url, tmp_path, audit_checkpoint_seconds=3600)


async def test_participants_get_events_after_commit(app: FastAPI, client: httpx.AsyncClient
                                                    ) -> None:
    world = await messaging_world(app)
    thread = await start_thread(client, world, participant_ids=[world.users["admin"].id])
    runtime = runtime_of(app)
    async with runtime.events.subscribe(world.users["admin"].id) as admin_events, \
            runtime.events.subscribe(world.users["staff_other"].id) as outsider_events:
        posted = await client.post(f"/api/conversations/{thread['id']}/messages",
                                   json={"body": "Seen, thanks"},
                                   headers=world.headers["staff_same"])
        event: Event = await asyncio.wait_for(admin_events.get(), timeout=5)
        assert event.type == "message.created"
        assert event.conversation_id == thread["id"]
        assert event.message_id == posted.json()["id"]
        await client.patch(f"/api/conversations/{thread['id']}", json={"status": "resolved"},
                           headers=world.headers["staff_same"])
        update: Event = await asyncio.wait_for(admin_events.get(), timeout=5)
        assert update.type == "conversation.updated"
        assert update.message_id is None
        # A marker sent to the outsider arrives first: nothing else was addressed to them.
        marker = Event.create("conversation.updated", -1, recipients=[world.users[
            "staff_other"].id])
        await runtime.events.publish(marker)
        assert await asyncio.wait_for(outsider_events.get(), timeout=5) == marker


def _closed_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return int(sock.getsockname()[1])


async def test_fhir_failure_is_502_and_leaves_nothing(app: FastAPI, settings: Settings,
                                                      tmp_path: Path) -> None:
    world = await messaging_world(app)  # users and patients, through the working store
    broken = settings.model_copy(update={
        "fhir_url": f"http://127.0.0.1:{_closed_port()}/fhir", "outbound_timeout_seconds": 2.0,
        "data_dir": tmp_path})
    # The same database and secret, but a FHIR server that does not answer.
    down = create_app(broken, clock=ManualClock())
    async with down.router.lifespan_context(down):
        transport = httpx.ASGITransport(app=down)
        async with httpx.AsyncClient(transport=transport, base_url="http://t") as http:
            response = await http.post("/api/conversations", headers=world.headers["admin"],
                                       json={"patient_id": world.patient_a,
                                             "initial_message": "hello"})
    assert response.status_code == 502
    assert "127.0.0.1" not in response.text
    runtime = runtime_of(app)
    async with runtime.session_factory() as db:
        for model in (Conversation, ConversationParticipant, Message):
            count = (await db.execute(select(func.count()).select_from(model))).scalar()
            assert count == 0, model.__name__


async def test_listing_route_statement_count_is_bounded(app: FastAPI, client: httpx.AsyncClient
                                                        ) -> None:
    from tests.messaging.bulk import load_threads
    from tests.statements import count_statements

    world = await messaging_world(app)
    me = world.users["staff_same"].id
    runtime = runtime_of(app)
    await load_threads(runtime.session_factory, runtime.clock.now(),
                       user_ids=[me, world.users["admin"].id], patient_id=world.patient_a,
                       threads=1000, messages=100_000)
    with count_statements(runtime.engine) as statements:
        response = await client.get("/api/conversations?limit=50",
                                    headers=world.headers["staff_same"])
    body: dict[str, Any] = response.json()
    assert response.status_code == 200
    assert len(body["conversations"]) == 50
    assert body["next_cursor"] is not None
    assert all(row["unread_count"] >= 0 for row in body["conversations"])
    # The audit checkpointer, a background task, reads the chain head when its timer fires;
    # loading 100,000 messages can outlast that timer, and then the read lands here. The
    # listing is not audited, so the request itself never touches the head.
    mine = [s for s in statements if not s.startswith("SELECT audit_head")]
    assert not any("audit_events" in s for s in mine), mine
    # Session, user, features, the listing query and the participants query: no per-thread
    # queries.
    assert len(mine) <= 5, mine


async def test_a_new_message_pushes_to_other_participants_only(
    app: FastAPI, client: httpx.AsyncClient
) -> None:
    import json

    from tests.loopback import serve
    from tests.push.pushservice import Browser, PushService

    world = await messaging_world(app)
    service = PushService()
    admin_browser, author_browser = Browser(), Browser()
    async with serve(service) as push_url:
        for kind, browser in (("admin", admin_browser), ("staff_same", author_browser)):
            response = await client.post(
                "/api/push/subscribe", headers=world.headers[kind],
                json=browser.subscription(f"{push_url}/{kind}"))
            assert response.status_code == 200
        thread = await start_thread(client, world, participant_ids=[world.users["admin"].id])
        await runtime_of(app).push.drain()
    [request] = service.received
    assert request.path == "/admin"
    payload = json.loads(admin_browser.decrypt(request.body))
    assert payload == {"title": "New message", "conversation_id": thread["id"],
                       "url": f"/messages/{thread['id']}"}
    assert "Potassium" not in request.body.decode("latin-1")
