"""Shared helpers for the auth tests: sign in through the real route."""

from __future__ import annotations

import asyncio
import time
from collections.abc import Awaitable, Callable
from typing import Any

import httpx
from fastapi import FastAPI
from sqlalchemy import select

from quill.audit.models import AuditEvent
from quill.identity.models import User
from tests.helpers import DEFAULT_PASSWORD, runtime_of


def new_client(
    app: FastAPI, client_ip: str = "127.0.0.1", cookies: dict[str, str] | None = None
) -> httpx.AsyncClient:
    transport = httpx.ASGITransport(app=app, client=(client_ip, 40000))
    return httpx.AsyncClient(transport=transport, base_url="http://testserver",
                             cookies=cookies)


async def login(
    http: httpx.AsyncClient, username: str, password: str = DEFAULT_PASSWORD, **extra: Any
) -> httpx.Response:
    return await http.post("/api/auth/login",
                           json={"username": username, "password": password, **extra})


# How soon a caller change made on one worker or host must hold on every other.
CHANGE_BOUND_SECONDS = 1.0


async def answered_within(send: Callable[[], Awaitable[httpx.Response]], status: int,
                          seconds: float = CHANGE_BOUND_SECONDS) -> bool:
    """Whether a request sent within ``seconds`` from now is answered with ``status``.

    Only when a request is *sent* counts, so a slow answer from a busy machine is no
    failure; a server still answering the old way after the bound is.
    """
    start = time.monotonic()
    while time.monotonic() - start <= seconds:
        if (await send()).status_code == status:
            return True
        await asyncio.sleep(0.02)
    return False


def csrf(http: httpx.AsyncClient) -> dict[str, str]:
    return {"X-CSRF-Token": http.cookies.get("XSRF-TOKEN") or ""}


async def audit_actions(app: FastAPI) -> list[str]:
    runtime = runtime_of(app)
    async with runtime.session_factory() as db:
        rows = await db.execute(select(AuditEvent.action).order_by(AuditEvent.seq))
        return [str(action) for action in rows.scalars().all()]


async def update_user(app: FastAPI, user_id: int, **fields: Any) -> None:
    runtime = runtime_of(app)
    async with runtime.session_factory() as db, db.begin():
        user = await db.get(User, user_id)
        assert user is not None
        for name, value in fields.items():
            setattr(user, name, value)
