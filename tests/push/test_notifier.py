"""PushNotifier against a push service on a real loopback socket."""

from __future__ import annotations

import asyncio
import json
from collections.abc import AsyncIterator

import httpx
import jwt
import pytest
from cryptography.hazmat.primitives.asymmetric import ec
from fastapi import BackgroundTasks, FastAPI
from sqlalchemy import select

from quill.auth.deps import CurrentCaller
from quill.events.bus import Event
from quill.identity.models import User
from quill.push.keys import b64url_decode
from quill.push.models import PushSubscription
from quill.settings import Settings
from quill.web.deps import DbSession
from tests.helpers import LoggedIn, logged_in, runtime_of
from tests.loopback import serve
from tests.push.pushservice import Browser, PushService


@pytest.fixture
def service() -> PushService:
    return PushService()


@pytest.fixture
async def push_url(service: PushService) -> AsyncIterator[str]:
    async with serve(service) as base:
        yield base


async def subscribe(client: httpx.AsyncClient, who: LoggedIn, subscription: object) -> None:
    response = await client.post("/api/push/subscribe", json=subscription, headers=who.headers)
    assert response.status_code == 200, response.text


async def endpoints(app: FastAPI) -> list[str]:
    async with runtime_of(app).session_factory() as db:
        rows = await db.execute(select(PushSubscription.endpoint).order_by(PushSubscription.id))
        return list(rows.scalars())


def vapid_claims(authorization: str, public_key: str, audience: str) -> dict[str, object]:
    scheme, _, params = authorization.partition(" ")
    assert scheme == "vapid"
    fields = dict(part.strip().split("=", 1) for part in params.split(","))
    assert fields["k"] == public_key
    key = ec.EllipticCurvePublicKey.from_encoded_point(ec.SECP256R1(), b64url_decode(fields["k"]))
    # Expiry is checked against the injected clock below, not the wall clock.
    claims: dict[str, object] = jwt.decode(fields["t"], key, algorithms=["ES256"],
                                           audience=audience, options={"verify_exp": False})
    return claims


async def test_sends_a_valid_encrypted_vapid_signed_request(
    app: FastAPI, client: httpx.AsyncClient, service: PushService, push_url: str,
    settings: Settings,
) -> None:
    alice = await logged_in(app, "alice")
    browser = Browser()
    await subscribe(client, alice, browser.subscription(f"{push_url}/push/alice"))
    public_key = (await client.get("/api/push/vapid-public-key")).json()["public_key"]

    runtime = runtime_of(app)
    await runtime.push.notify([alice.user_id], 17)
    await runtime.push.drain()

    [request] = service.received
    assert request.path == "/push/alice"
    assert request.headers["content-encoding"] == "aes128gcm"
    assert int(request.headers["ttl"]) > 0
    assert json.loads(browser.decrypt(request.body)) == {
        "title": "New message", "conversation_id": 17, "url": "/messages/17"}
    claims = vapid_claims(request.headers["authorization"], public_key, push_url)
    assert claims["sub"] == settings.vapid_subject
    assert claims["exp"] == int(runtime.clock.now().timestamp()) + 12 * 3600


async def test_only_the_named_users_are_notified(
    app: FastAPI, client: httpx.AsyncClient, service: PushService, push_url: str,
) -> None:
    alice, bob = await logged_in(app, "alice"), await logged_in(app, "bob")
    await subscribe(client, alice, Browser().subscription(f"{push_url}/a1"))
    await subscribe(client, alice, Browser().subscription(f"{push_url}/a2"))
    await subscribe(client, bob, Browser().subscription(f"{push_url}/b"))
    await runtime_of(app).push.notify([alice.user_id], 3)
    await runtime_of(app).push.drain()
    assert sorted(r.path for r in service.received) == ["/a1", "/a2"]


@pytest.mark.parametrize("status", [404, 410])
async def test_gone_endpoints_are_removed(
    app: FastAPI, client: httpx.AsyncClient, service: PushService, push_url: str, status: int,
) -> None:
    alice = await logged_in(app, "alice")
    await subscribe(client, alice, Browser().subscription(f"{push_url}/gone"))
    await subscribe(client, alice, Browser().subscription(f"{push_url}/fine"))
    service.statuses["/gone"] = status
    await runtime_of(app).push.notify([alice.user_id], 1)
    await runtime_of(app).push.drain()
    assert await endpoints(app) == [f"{push_url}/fine"]


async def test_other_failures_keep_the_subscription(
    app: FastAPI, client: httpx.AsyncClient, service: PushService, push_url: str,
) -> None:
    alice = await logged_in(app, "alice")
    await subscribe(client, alice, Browser().subscription(f"{push_url}/busy"))
    await subscribe(client, alice, Browser().subscription("http://127.0.0.1:1/closed"))
    service.status = 503
    await runtime_of(app).push.notify([alice.user_id], 1)
    await runtime_of(app).push.drain()
    assert len(await endpoints(app)) == 2


async def test_notify_returns_before_the_push_service_answers(
    app: FastAPI, client: httpx.AsyncClient, service: PushService, push_url: str,
) -> None:
    alice = await logged_in(app, "alice")
    await subscribe(client, alice, Browser().subscription(f"{push_url}/slow"))
    service.gate = asyncio.Event()
    runtime = runtime_of(app)
    async with asyncio.timeout(10):  # a guard: notify() must not wait for the answer
        await runtime.push.notify([alice.user_id], 1)
    await service.arrived.wait()  # the request is out while notify() has long returned
    service.gate.set()
    await runtime.push.drain()
    assert len(service.received) == 1


async def test_route_hands_events_and_pushes_to_background_tasks_after_commit(
    app: FastAPI, client: httpx.AsyncClient, service: PushService, push_url: str,
) -> None:
    """The pattern messaging uses: publish and notify once the response is committed."""
    alice, bob = await logged_in(app, "alice"), await logged_in(app, "bob")
    await subscribe(client, bob, Browser().subscription(f"{push_url}/bob"))
    runtime = runtime_of(app)

    @app.post("/api/test-new-message")
    async def new_message(
        caller: CurrentCaller, db: DbSession, background: BackgroundTasks,
    ) -> dict[str, bool]:
        assert await db.get(User, caller.user_id) is not None
        background.add_task(runtime.events.publish, Event.create(
            "message.created", 4, message_id=40, recipients=[bob.user_id]))
        background.add_task(runtime.push.notify, [bob.user_id], 4)
        return {"ok": True}

    async with runtime.events.subscribe(bob.user_id) as events:
        response = await client.post("/api/test-new-message", headers=alice.headers)
        assert response.status_code == 200
        assert (await events.get()).message_id == 40
    await runtime.push.drain()
    assert [r.path for r in service.received] == ["/bob"]
