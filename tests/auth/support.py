"""Shared helpers for the auth tests: sign in through the real route."""

from __future__ import annotations

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
