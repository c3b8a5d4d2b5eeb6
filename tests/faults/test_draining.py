"""A worker that has begun a graceful shutdown is not ready, so a balancer stops sending
it new requests while it finishes those in flight."""

from __future__ import annotations

import httpx
from fastapi import FastAPI

from quill.events.shutdown import ShutdownNotice
from quill.web.wiring import Wiring


async def test_ready_answers_503_draining_once_shutdown_begins(
        app: FastAPI, client: httpx.AsyncClient) -> None:
    before = await client.get("/api/health/ready")
    assert before.status_code == 200
    assert before.json()["status"] == "ready"

    wiring: Wiring = app.state.wiring
    wiring.get(ShutdownNotice).begin()

    during = await client.get("/api/health/ready")
    assert during.status_code == 503
    assert during.json()["status"] == "draining"
    assert during.headers["Retry-After"]
    assert (await client.get("/api/health/live")).status_code == 200
