"""POST/DELETE /api/push/subscribe and GET /api/push/vapid-public-key."""

from __future__ import annotations

from collections.abc import AsyncIterator
from pathlib import Path

import httpx
import pytest
from fastapi import FastAPI
from sqlalchemy import select

from quill.app import create_app
from quill.clock import ManualClock
from quill.push.keys import KEY_FILE, b64url_decode
from quill.push.models import PushSubscription
from quill.push.service import MAX_SUBSCRIPTIONS_PER_USER
from quill.settings import Settings
from tests.conftest import make_settings
from tests.helpers import cookie_client, logged_in, make_user, runtime_of
from tests.push.pushservice import Browser

ENDPOINT = "http://127.0.0.1:9/push/one"


async def owners(app: FastAPI) -> list[tuple[str, int]]:
    async with runtime_of(app).session_factory() as db:
        rows = await db.execute(select(PushSubscription.endpoint, PushSubscription.user_id)
                                .order_by(PushSubscription.endpoint))
        return [(endpoint, user_id) for endpoint, user_id in rows]


async def test_vapid_public_key_is_public_and_kept_in_the_data_dir(
    client: httpx.AsyncClient, settings: Settings,
) -> None:
    response = await client.get("/api/push/vapid-public-key")
    assert response.status_code == 200
    key = response.json()["public_key"]
    point = b64url_decode(key)
    assert len(point) == 65
    assert point[0] == 4
    assert (settings.data_dir / KEY_FILE).exists()
    again = create_app(settings)
    assert runtime_of(again).push.public_key == key


async def test_subscribe_is_deduplicated_by_endpoint(
    app: FastAPI, client: httpx.AsyncClient,
) -> None:
    alice, bob = await logged_in(app, "alice"), await logged_in(app, "bob")
    for _ in range(2):
        response = await client.post("/api/push/subscribe", headers=alice.headers,
                                     json=Browser().subscription(ENDPOINT))
        assert response.status_code == 200
        assert response.json() == {"ok": True}
    assert await owners(app) == [(ENDPOINT, alice.user_id)]
    # The same browser, now signed in as bob: alice must stop getting its notifications.
    await client.post("/api/push/subscribe", headers=bob.headers,
                      json=Browser().subscription(ENDPOINT))
    assert await owners(app) == [(ENDPOINT, bob.user_id)]


async def test_unsubscribe_removes_only_the_callers_endpoint(
    app: FastAPI, client: httpx.AsyncClient,
) -> None:
    alice, bob = await logged_in(app, "alice"), await logged_in(app, "bob")
    await client.post("/api/push/subscribe", headers=alice.headers,
                      json=Browser().subscription(ENDPOINT))
    not_hers = await client.request("DELETE", "/api/push/subscribe", headers=bob.headers,
                                    json={"endpoint": ENDPOINT})
    assert not_hers.status_code == 200
    assert await owners(app) == [(ENDPOINT, alice.user_id)]
    response = await client.request("DELETE", "/api/push/subscribe", headers=alice.headers,
                                    json={"endpoint": ENDPOINT})
    assert response.json() == {"ok": True}
    assert await owners(app) == []


async def test_subscribe_needs_authentication_and_csrf(
    app: FastAPI, client: httpx.AsyncClient,
) -> None:
    body = Browser().subscription(ENDPOINT)
    assert (await client.post("/api/push/subscribe", json=body)).status_code == 401
    user = await make_user(app, "carol")
    async with await cookie_client(app, user) as browser:
        refused = await browser.post("/api/push/subscribe", json=body)
        assert refused.status_code == 403
        csrf = {"X-CSRF-Token": browser.cookies["XSRF-TOKEN"]}
        ok = await browser.post("/api/push/subscribe", json=body, headers=csrf)
        assert ok.status_code == 200


@pytest.mark.parametrize("change", [
    {"keys": {"p256dh": "AAAA", "auth": "AAAAAAAAAAAAAAAAAAAAAA"}},
    {"keys": {"p256dh": None, "auth": "x"}},
    {"surprise": True},
    {"endpoint": ""},
])
async def test_malformed_subscriptions_are_422(
    app: FastAPI, client: httpx.AsyncClient, change: dict[str, object],
) -> None:
    alice = await logged_in(app, "alice")
    body = {**Browser().subscription(ENDPOINT), **change}
    response = await client.post("/api/push/subscribe", headers=alice.headers, json=body)
    assert response.status_code == 422


@pytest.mark.parametrize("endpoint", [
    "http://10.0.0.1/push", "http://example.org/push", "ftp://127.0.0.1/push", "http://user:pw@127.0.0.1/push",
    "not a url", "http://127.0.0.1:99999/push",
])
async def test_development_refuses_plain_http_beyond_loopback(
    app: FastAPI, client: httpx.AsyncClient, endpoint: str,
) -> None:
    alice = await logged_in(app, "alice")
    response = await client.post("/api/push/subscribe", headers=alice.headers,
                                 json=Browser().subscription(endpoint))
    assert response.status_code == 400
    assert await owners(app) == []


@pytest.fixture
async def production(database_url: str, tmp_path: Path) -> AsyncIterator[FastAPI]:
    settings = make_settings(database_url, tmp_path, env="production", cookie_secure=True)
    app = create_app(settings, clock=ManualClock())
    async with app.router.lifespan_context(app):
        yield app


async def test_production_without_keys_disables_push(production: FastAPI) -> None:
    transport = httpx.ASGITransport(app=production)
    async with httpx.AsyncClient(transport=transport, base_url="https://testserver") as http:
        response = await http.get("/api/push/vapid-public-key")
    assert response.status_code == 503


async def test_production_refuses_private_endpoints(
    app: FastAPI, database_url: str, tmp_path: Path,
) -> None:
    """``app`` is requested for its clean-up of the shared database."""
    push = runtime_of(app).push
    assert push.public_key is not None
    pem = (runtime_of(app).settings.data_dir / KEY_FILE).read_text()
    settings = make_settings(database_url, tmp_path / "prod", env="production",
                             cookie_secure=True, vapid_private_key=pem,
                             push_allow_loopback=False)
    prod = create_app(settings, clock=ManualClock())
    async with prod.router.lifespan_context(prod):
        alice = await logged_in(prod, "alice")
        transport = httpx.ASGITransport(app=prod)
        async with httpx.AsyncClient(transport=transport, base_url="https://testserver") as http:
            for endpoint in ("https://127.0.0.1/push", "http://8.8.8.8/push"):
                refused = await http.post("/api/push/subscribe", headers=alice.headers,
                                          json=Browser().subscription(endpoint))
                assert refused.status_code == 400
            accepted = await http.post("/api/push/subscribe", headers=alice.headers,
                                       json=Browser().subscription("https://8.8.8.8/push"))
            assert accepted.status_code == 200
            public = await http.get("/api/push/vapid-public-key")
            assert public.json()["public_key"] == push.public_key


async def test_a_user_keeps_at_most_the_newest_subscriptions(
    app: FastAPI, client: httpx.AsyncClient,
) -> None:
    alice = await logged_in(app, "alice")
    clock = runtime_of(app).clock
    assert isinstance(clock, ManualClock)
    for n in range(MAX_SUBSCRIPTIONS_PER_USER + 2):
        clock.advance(seconds=1)
        await client.post("/api/push/subscribe", headers=alice.headers,
                          json=Browser().subscription(f"http://127.0.0.1:9/{n:02d}"))
    kept = [endpoint for endpoint, _ in await owners(app)]
    assert len(kept) == MAX_SUBSCRIPTIONS_PER_USER
    assert kept[0].endswith("/02")
