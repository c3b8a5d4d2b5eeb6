"""Test-side shortcuts: make users and authenticated clients without the login route."""

from __future__ import annotations

from collections.abc import Iterable
from dataclasses import dataclass
from typing import Any

import httpx
from fastapi import FastAPI

from quill.access.models import (
    Organisation,
    OrganisationFeature,
    PatientMembership,
    StaffMembership,
)
from quill.auth.sessions import SessionTokens, open_session
from quill.identity.models import User
from quill.runtime import Runtime

DEFAULT_PASSWORD = "correct horse battery staple"


@dataclass
class LoggedIn:
    user_id: int
    username: str
    headers: dict[str, str]


def runtime_of(app: FastAPI) -> Runtime:
    runtime: Runtime = app.state.runtime
    return runtime


async def make_user(
    app: FastAPI,
    username: str,
    *,
    level: str = "patient",
    profession: str = "patient",
    password: str = DEFAULT_PASSWORD,
    email: str | None = None,
    **fields: Any,
) -> User:
    runtime = runtime_of(app)
    now = runtime.clock.now()
    async with runtime.session_factory() as db, db.begin():
        user = User(
            username=username, username_key=username.lower(),
            email=(email or f"{username}@example.org").lower(), full_name=username.title(),
            password_hash=await runtime.passwords.hash(password),
            system_permissions=level, base_profession=profession,
            totp_enabled=False, is_active=True, created_at=now, updated_at=now,
            **{"additional_competencies": [], "removed_competencies": [], **fields},
        )
        db.add(user)
        await db.flush()
        db.expunge(user)
    return user


async def bearer_headers(app: FastAPI, user: User) -> dict[str, str]:
    """Open a real server-side session for the user and return a bearer header for it."""
    runtime = runtime_of(app)
    async with runtime.session_factory() as db, db.begin():
        tokens = await open_session(db, app.state.wiring.get(SessionTokens), runtime.clock,
                                    runtime.ids, user, user_agent="tests", ip="127.0.0.1")
    return {"Authorization": f"Bearer {tokens.access_token}"}


async def logged_in(app: FastAPI, username: str, **kwargs: Any) -> LoggedIn:
    user = await make_user(app, username, **kwargs)
    return LoggedIn(user.id, user.username, await bearer_headers(app, user))


async def cookie_client(app: FastAPI, user: User) -> httpx.AsyncClient:
    """A client holding the session cookies a browser would, including the CSRF cookie."""
    runtime = runtime_of(app)
    async with runtime.session_factory() as db, db.begin():
        tokens = await open_session(db, app.state.wiring.get(SessionTokens), runtime.clock,
                                    runtime.ids, user, user_agent="tests", ip="127.0.0.1")
    http = httpx.AsyncClient(transport=httpx.ASGITransport(app=app), base_url="http://testserver")
    http.cookies.set("access_token", tokens.access_token)
    http.cookies.set("XSRF-TOKEN", tokens.csrf_token)
    return http


async def make_organisation(
    app: FastAPI, name: str, *, staff: Iterable[int] = (), primary: bool = True,
    features: Iterable[str] = (), patients: Iterable[str] = (),
) -> int:
    """An organisation with staff (primary or not), enabled features and patients, each
    patient also stored as a bare FHIR Patient."""
    runtime = runtime_of(app)
    now = runtime.clock.now()
    async with runtime.session_factory() as db, db.begin():
        org = Organisation(name=name, type="gp_practice", location=None, created_at=now,
                           updated_at=now)
        db.add(org)
        await db.flush()
        for user_id in staff:
            db.add(StaffMembership(organisation_id=org.id, user_id=user_id,
                                   is_primary=primary, created_at=now))
        for key in features:
            db.add(OrganisationFeature(organisation_id=org.id, feature_key=key, enabled_at=now,
                                       enabled_by=None))
        store = runtime.fhir.store(db)
        for patient_id in patients:
            await store.update({"resourceType": "Patient", "id": patient_id})
            db.add(PatientMembership(organisation_id=org.id, patient_id=patient_id,
                                     is_primary=False, created_at=now))
        return org.id
