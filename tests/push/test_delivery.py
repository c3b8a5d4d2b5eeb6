"""Delivery goes to the address that was checked, and endpoint URLs stay out of the logs.

A real push service on a loopback socket; names resolve through a resolver the test
scripts, the one seam between Quill and DNS.
"""

from __future__ import annotations

import ipaddress
import logging
from collections.abc import AsyncIterator
from contextlib import asynccontextmanager
from dataclasses import dataclass, field
from urllib.parse import urlsplit

import httpx
import pytest
from fastapi import FastAPI

from quill.push.endpoints import EndpointPolicy, IpAddress
from quill.push.keys import load_vapid_keys
from quill.push.models import PushSubscription
from quill.push.notifier import PushNotifier
from tests.helpers import logged_in, make_user, runtime_of
from tests.loopback import serve
from tests.push.pushservice import Browser, PushService

SECRET_PATH = "/wpush/v2/capability-7f3c1a9e5b2d4f6081"


@dataclass
class Rebinding:
    """Answers ``first`` once, then ``later``: a name rebound right after its check."""

    first: str
    later: str
    asked: list[str] = field(default_factory=list)

    async def __call__(self, host: str) -> list[IpAddress]:
        self.asked.append(host)
        return [ipaddress.ip_address(self.first if len(self.asked) == 1 else self.later)]


async def subscribe_directly(app: FastAPI, user_id: int, endpoint: str) -> Browser:
    """A stored subscription, as the route would have stored it after its own check."""
    browser, runtime = Browser(), runtime_of(app)
    keys = browser.subscription(endpoint)["keys"]
    assert isinstance(keys, dict)
    async with runtime.session_factory() as db, db.begin():
        db.add(PushSubscription(user_id=user_id, endpoint=endpoint, p256dh=keys["p256dh"],
                                auth=keys["auth"], created_at=runtime.clock.now(),
                                updated_at=runtime.clock.now()))
    return browser


@asynccontextmanager
async def notifier(app: FastAPI, policy: EndpointPolicy) -> AsyncIterator[PushNotifier]:
    runtime = runtime_of(app)
    push = PushNotifier(session_factory=runtime.session_factory,
                        keys=load_vapid_keys(runtime.settings), subject="mailto:t@example.org",
                        clock=runtime.clock, endpoints=policy, timeout_seconds=5)
    try:
        yield push
    finally:
        await push.close()


async def test_the_checked_address_is_the_one_connected_to(app: FastAPI) -> None:
    good, rebound = PushService(), PushService()
    async with serve(good) as good_url:
        port = urlsplit(good_url).port
        assert port is not None
        # Same port on another loopback address: where a second lookup would now lead.
        async with serve(rebound, host="127.0.0.2", port=port):
            user = await make_user(app, "alice")
            endpoint = f"http://push.test:{port}{SECRET_PATH}"
            browser = await subscribe_directly(app, user.id, endpoint)
            resolver = Rebinding(first="127.0.0.1", later="127.0.0.2")
            async with notifier(app, EndpointPolicy(True, resolver)) as push:
                await push.notify([user.id], 5)
                await push.drain()
    assert resolver.asked == ["push.test"]
    assert rebound.received == []
    [request] = good.received
    assert request.path == SECRET_PATH
    assert request.headers["host"] == f"push.test:{port}"
    assert b'"conversation_id": 5' in browser.decrypt(request.body)


async def test_an_endpoint_that_now_resolves_privately_is_skipped(app: FastAPI) -> None:
    service = PushService()
    async with serve(service) as url:
        user = await make_user(app, "alice")
        await subscribe_directly(app, user.id, f"https://push.test:{urlsplit(url).port}/x")
        # Whatever the name said when subscribing, at sending time it says 10.0.0.5.
        resolver = Rebinding(first="10.0.0.5", later="10.0.0.5")
        async with notifier(app, EndpointPolicy(True, resolver)) as push:
            await push.notify([user.id], 1)
            await push.drain()
    assert resolver.asked == ["push.test"]
    assert service.received == []


@pytest.mark.parametrize("endpoint", [
    "https://10.0.0.5/push", "https://169.254.169.254/latest", "https://100.64.0.1/push",
    "https://[fd12::1]/push", "https://192.168.1.20/push",
])
async def test_development_refuses_private_endpoints(
    app: FastAPI, client: httpx.AsyncClient, endpoint: str,
) -> None:
    alice = await logged_in(app, "alice")
    response = await client.post("/api/push/subscribe", headers=alice.headers,
                                 json=Browser().subscription(endpoint))
    assert response.status_code == 400


async def test_endpoint_urls_never_reach_the_logs(
    app: FastAPI, client: httpx.AsyncClient, caplog: pytest.LogCaptureFixture,
) -> None:
    service = PushService(statuses={f"{SECRET_PATH}/refused": 500})
    alice = await logged_in(app, "alice")
    async with serve(service) as url:
        endpoints = [f"{url}{SECRET_PATH}/ok", f"{url}{SECRET_PATH}/refused",
                     f"http://127.0.0.1:1{SECRET_PATH}/closed"]
        for endpoint in endpoints:
            subscribed = await client.post("/api/push/subscribe", headers=alice.headers,
                                           json=Browser().subscription(endpoint))
            assert subscribed.status_code == 200
        with caplog.at_level(logging.DEBUG):
            await runtime_of(app).push.notify([alice.user_id], 9)
            await runtime_of(app).push.drain()
    assert len(service.received) == 2
    assert caplog.records, "the refused and unreachable sends are logged"
    for record in caplog.records:
        assert "capability-7f3c" not in f"{record.getMessage()} {vars(record)}"
