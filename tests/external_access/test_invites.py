"""External access: invite, accept (new and existing accounts), revoke, list."""

from __future__ import annotations

from typing import Any

import httpx
from fastapi import FastAPI
from sqlalchemy import select

from quill.clock import ManualClock
from quill.email.models import OutboxEmail
from quill.external_access.models import ExternalInvite
from quill.external_access.service import token_hash
from quill.identity.models import User
from tests.audit_rows import audit_actions
from tests.helpers import (
    DEFAULT_PASSWORD,
    LoggedIn,
    cookie_client,
    logged_in,
    make_user,
    runtime_of,
)
from tests.patients.conftest import Clinic

PASSWORD = "a long enough password"


async def _patient(client: httpx.AsyncClient, clinic: Clinic) -> str:
    made = await client.post("/api/patients", headers=clinic.staff.headers,
                             json={"given_name": "Ext", "family_name": "Subject"})
    return str(made.json()["id"])


async def _invite(client: httpx.AsyncClient, who: LoggedIn, pid: str, email: str,
                  user_type: str = "patient_advocate") -> httpx.Response:
    return await client.post(f"/api/patients/{pid}/invite-external", headers=who.headers,
                             json={"email": email, "user_type": user_type})


async def _outbox(app: FastAPI) -> list[OutboxEmail]:
    async with runtime_of(app).session_factory() as db:
        return list((await db.execute(select(OutboxEmail))).scalars().all())


async def test_invite_and_register(app: FastAPI, client: httpx.AsyncClient,
                                   clinic: Clinic) -> None:
    pid = await _patient(client, clinic)
    patient = await logged_in(app, "the-patient", fhir_patient_id=pid)
    invited = await _invite(client, patient, pid, "Relative@Example.org")
    assert invited.status_code == 200
    token = invited.json()["token"]
    settings = runtime_of(app).settings
    assert invited.json()["invite_url"] == \
        f"{settings.public_base_url}/accept-invite?token={token}"
    mail = await _outbox(app)
    assert [(m.recipient, token in m.body) for m in mail] == [("relative@example.org", True)]
    async with runtime_of(app).session_factory() as db:
        row = (await db.execute(select(ExternalInvite))).scalar_one()
    assert row.token_hash == token_hash(token) != token
    accepted = await client.post("/api/accept-invite", json={
        "token": token, "username": "relative", "password": PASSWORD})
    assert accepted.status_code == 200
    user_id = accepted.json()["user_id"]
    assert accepted.json() == {"status": "registered", "user_id": user_id}
    async with runtime_of(app).session_factory() as db:
        user = await db.get(User, user_id)
        assert user is not None
        assert (user.system_permissions, user.email) == ("patient_advocate",
                                                          "relative@example.org")
    login = await client.post("/api/auth/login", json={"username": "relative",
                                                       "password": PASSWORD})
    assert login.status_code == 200
    headers = {"Authorization": f"Bearer {login.cookies['access_token']}"}
    client.cookies.clear()
    assert (await client.get(f"/api/patients/{pid}", headers=headers)).status_code == 200
    listed = await client.get("/api/patients", headers=headers)
    assert [p["id"] for p in listed.json()["patients"]] == [pid]
    reused = await client.post("/api/accept-invite", json={
        "token": token, "username": "relative2", "password": PASSWORD})
    assert reused.status_code == 400
    grants = await client.get(f"/api/patients/{pid}/external-access", headers=patient.headers)
    assert grants.status_code == 200
    [grant] = grants.json()["grants"]
    assert grant["user_id"] == user_id
    assert (grant["username"], grant["email"]) == ("relative", "relative@example.org")
    assert (grant["user_type"], grant["access_level"]) == ("patient_advocate", "read_write")
    actions = [a for a, p, _ in await audit_actions(app) if p == pid]
    assert {"external_access.invite", "external_access.accept",
            "external_access.list"} <= set(actions)


async def test_accept_errors(app: FastAPI, client: httpx.AsyncClient, clinic: Clinic,
                             clock: ManualClock) -> None:
    pid = await _patient(client, clinic)
    token = (await _invite(client, clinic.admin, pid, "hcp@example.org",
                           "external_hcp")).json()["token"]
    bad = await client.post("/api/accept-invite", json={"token": "nope"})
    assert bad.status_code == 400
    assert bad.json() == {"detail": "Invalid or expired invite"}
    missing = await client.post("/api/accept-invite", json={"token": token})
    assert missing.status_code == 422
    await make_user(app, "taken-name")
    taken = await client.post("/api/accept-invite", json={
        "token": token, "username": "taken-name", "password": PASSWORD})
    assert taken.status_code == 409
    short = await client.post("/api/accept-invite", json={
        "token": token, "username": "fresh", "password": "short"})
    assert short.status_code == 400
    clock.advance(days=7, seconds=1)
    expired = await client.post("/api/accept-invite", json={
        "token": token, "username": "fresh", "password": PASSWORD})
    assert expired.status_code == 400
    assert (await client.post("/api/accept-invite", json={})).status_code == 422


async def test_existing_account_must_be_signed_in(app: FastAPI, client: httpx.AsyncClient,
                                                  clinic: Clinic) -> None:
    pid = await _patient(client, clinic)
    existing = await logged_in(app, "known-hcp", level="external_hcp",
                               profession="external_hcp", email="known@example.org")
    someone = await logged_in(app, "someone-else", level="external_hcp",
                              profession="external_hcp")
    token = (await _invite(client, clinic.admin, pid, "known@example.org",
                           "external_hcp")).json()["token"]
    anonymous = await client.post("/api/accept-invite", json={"token": token})
    assert anonymous.status_code == 401
    assert "log in" in anonymous.json()["detail"]
    wrong = await client.post("/api/accept-invite", json={"token": token},
                              headers=someone.headers)
    assert wrong.status_code == 403
    assert (await client.get(f"/api/patients/{pid}",
                             headers=existing.headers)).status_code == 404
    granted = await client.post("/api/accept-invite", json={"token": token},
                                headers=existing.headers)
    assert granted.json() == {"status": "access_granted", "user_id": existing.user_id}
    assert (await client.get(f"/api/patients/{pid}",
                             headers=existing.headers)).status_code == 200


async def test_accept_with_cookies_needs_csrf(app: FastAPI, client: httpx.AsyncClient,
                                              clinic: Clinic) -> None:
    pid = await _patient(client, clinic)
    user = await make_user(app, "cookie-hcp", level="external_hcp", profession="external_hcp",
                           email="cookie@example.org")
    token = (await _invite(client, clinic.admin, pid, "cookie@example.org",
                           "external_hcp")).json()["token"]
    async with await cookie_client(app, user) as browser:
        refused = await browser.post("/api/accept-invite", json={"token": token})
        assert refused.status_code == 403
        ok = await browser.post("/api/accept-invite", json={"token": token},
                                headers={"X-CSRF-Token": browser.cookies["XSRF-TOKEN"]})
        assert ok.json()["status"] == "access_granted"


async def test_revoke_is_final(app: FastAPI, client: httpx.AsyncClient, clinic: Clinic
                               ) -> None:
    pid = await _patient(client, clinic)
    first = (await _invite(client, clinic.admin, pid, "rel@example.org")).json()["token"]
    pending = (await _invite(client, clinic.admin, pid, "rel@example.org")).json()["token"]
    user_id = (await client.post("/api/accept-invite", json={
        "token": first, "username": "rel", "password": PASSWORD})).json()["user_id"]
    url = f"/api/patients/{pid}/external-access/{user_id}"
    revoked = await client.delete(url, headers=clinic.admin.headers)
    assert revoked.status_code == 200
    assert revoked.json() == {"status": "revoked"}
    assert (await client.delete(url, headers=clinic.admin.headers)).status_code == 404
    relative = await client.post("/api/auth/login", json={"username": "rel",
                                                          "password": PASSWORD})
    headers = {"Authorization": f"Bearer {relative.cookies['access_token']}"}
    client.cookies.clear()
    assert (await client.get(f"/api/patients/{pid}", headers=headers)).status_code == 404
    for token in (first, pending):
        again = await client.post("/api/accept-invite", json={"token": token},
                                  headers=headers)
        assert again.status_code == 400
    assert (await client.get(f"/api/patients/{pid}", headers=headers)).status_code == 404
    listed = await client.get(f"/api/patients/{pid}/external-access",
                              headers=clinic.admin.headers)
    assert listed.json() == {"grants": []}


async def test_who_may_invite(app: FastAPI, client: httpx.AsyncClient, clinic: Clinic
                              ) -> None:
    pid = await _patient(client, clinic)
    assert (await _invite(client, clinic.staff, pid, "x@example.org")).status_code == 403
    assert (await _invite(client, clinic.outsider, pid, "x@example.org")).status_code == 404
    assert (await _invite(client, clinic.admin, "nobody", "x@example.org")).status_code == 404
    bad_type: dict[str, Any] = {"email": "x@example.org", "user_type": "staff"}
    response = await client.post(f"/api/patients/{pid}/invite-external", json=bad_type,
                                 headers=clinic.admin.headers)
    assert response.status_code == 422
    bad_email = await _invite(client, clinic.admin, pid, "not-an-email")
    assert bad_email.status_code == 422
    assert (await client.post(f"/api/patients/{pid}/invite-external", json={
        "email": "x@example.org", "user_type": "external_hcp"})).status_code == 401
    assert DEFAULT_PASSWORD  # the helpers' users log in with it; invites never touch it
