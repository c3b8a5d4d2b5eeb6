"""Audit entries name the client address: the peer, or the client a trusted proxy named."""

from __future__ import annotations

from collections.abc import AsyncIterator
from pathlib import Path

import httpx
import pytest
from fastapi import FastAPI
from sqlalchemy import select, update

from quill.audit.models import AuditEvent
from quill.audit.service import verify_chain
from quill.clock import ManualClock
from tests.conftest import TEST_AUDIT_KEY, make_settings, running_app
from tests.helpers import DEFAULT_PASSWORD, make_user, runtime_of

# httpx's ASGI transport reports this peer for every request.
PEER = "127.0.0.1"


@pytest.fixture
async def proxied_app(database_url: str, tmp_path: Path) -> AsyncIterator[FastAPI]:
    settings = make_settings(database_url, tmp_path, trusted_proxies=PEER)
    async with running_app(settings, ManualClock()) as application:
        yield application


async def _login_address(app: FastAPI, headers: dict[str, str]) -> str | None:
    await make_user(app, "alice")
    transport = httpx.ASGITransport(app=app)
    async with httpx.AsyncClient(transport=transport, base_url="http://testserver") as http:
        response = await http.post("/api/auth/login", headers=headers,
                                   json={"username": "alice", "password": DEFAULT_PASSWORD})
    assert response.status_code == 200, response.text
    async with runtime_of(app).session_factory() as db:
        event = (await db.execute(select(AuditEvent).where(AuditEvent.action == "auth.login"))
                 ).scalar_one()
    return event.client_address


async def test_forwarded_client_is_recorded_behind_a_trusted_proxy(
        proxied_app: FastAPI) -> None:
    address = await _login_address(proxied_app, {"X-Forwarded-For": "203.0.113.7"})
    assert address == "203.0.113.7"


async def test_forwarded_header_from_an_untrusted_peer_is_ignored(app: FastAPI) -> None:
    address = await _login_address(app, {"X-Forwarded-For": "203.0.113.7"})
    assert address == PEER


async def test_the_address_is_covered_by_the_chain(proxied_app: FastAPI) -> None:
    await _login_address(proxied_app, {"X-Forwarded-For": "203.0.113.7"})
    factory = runtime_of(proxied_app).session_factory
    key = TEST_AUDIT_KEY.encode()
    async with factory() as db:
        assert (await verify_chain(db, key, [])).ok
    async with factory() as db, db.begin():
        await db.execute(update(AuditEvent).where(AuditEvent.action == "auth.login")
                         .values(client_address="198.51.100.1"))
    async with factory() as db:
        result = await verify_chain(db, key, [])
    assert not result.ok
