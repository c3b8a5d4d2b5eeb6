"""GET /auth/me, GET /auth/organizations and POST /auth/register."""

from __future__ import annotations

import httpx
from fastapi import FastAPI
from sqlalchemy import select

from quill.access.models import StaffMembership
from quill.identity.models import User
from tests.auth.conftest import AppFactory
from tests.auth.support import login, new_client
from tests.helpers import bearer_headers, make_organisation, make_user, runtime_of


async def test_me_shape_roles_and_primary_features(
    app: FastAPI, client: httpx.AsyncClient
) -> None:
    user = await make_user(app, "mona", level="admin", profession="consultant",
                           email="Mona@Example.org")
    await make_organisation(app, "Riverside", staff=[user.id],
                            features=["messaging", "letters"])
    await make_organisation(app, "Hilltop", staff=[user.id], primary=False,
                            features=["teaching"])
    response = await client.get("/api/auth/me", headers=await bearer_headers(app, user))
    assert response.status_code == 200
    assert response.json() == {
        "id": user.id, "username": "mona", "name": "Mona", "email": "mona@example.org",
        "roles": ["Clinician", "Staff", "Admin"], "system_permissions": "admin",
        "totp_enabled": False, "enabled_features": ["letters", "messaging"],
        "clinical_services_enabled": True,
    }


async def test_me_roles_for_patient_and_without_organisation(
    app: FastAPI, client: httpx.AsyncClient
) -> None:
    user = await make_user(app, "pat")
    body = (await client.get("/api/auth/me", headers=await bearer_headers(app, user))).json()
    assert body["roles"] == ["Patient"]
    assert body["enabled_features"] == []


async def test_me_reports_clinical_services_switch(app_factory: AppFactory) -> None:
    off = await app_factory(clinical_services_enabled=False)
    user = await make_user(off, "nurse", level="staff", profession="registered_nurse")
    async with new_client(off) as http:
        body = (await http.get("/api/auth/me", headers=await bearer_headers(off, user))).json()
    assert body["clinical_services_enabled"] is False
    assert body["roles"] == ["Clinician", "Staff"]


async def test_organizations_are_public(app: FastAPI, client: httpx.AsyncClient) -> None:
    org = await make_organisation(app, "Brook GP")
    response = await client.get("/api/auth/organizations")
    assert response.status_code == 200
    assert response.json() == {"organizations": [{"id": org, "name": "Brook GP",
                                                  "type": "gp_practice"}]}


async def test_register_creates_a_patient_with_primary_membership(
    app: FastAPI, client: httpx.AsyncClient
) -> None:
    org = await make_organisation(app, "Lakeside", features=["messaging"])
    response = await client.post("/api/auth/register", json={
        "username": "Newbie", "email": "NEWBIE@example.org", "password": "a long passphrase",
        "full_name": "New Person", "organisation_id": org})
    assert response.status_code == 200
    assert response.json() == {"detail": "created"}
    runtime = runtime_of(app)
    async with runtime.session_factory() as db:
        user = (await db.execute(select(User).where(User.username_key == "newbie"))).scalar_one()
        membership = (await db.execute(select(StaffMembership))).scalar_one()
    assert user.system_permissions == "patient"
    assert user.email == "newbie@example.org"
    assert user.full_name == "New Person"
    assert membership.user_id == user.id
    assert membership.is_primary
    logged = await login(client, "newbie", "a long passphrase")
    assert logged.status_code == 200
    me = (await client.get("/api/auth/me")).json()
    assert me["enabled_features"] == ["messaging"]


async def test_register_errors(app: FastAPI, client: httpx.AsyncClient) -> None:
    await make_user(app, "taken", email="taken@example.org")

    async def attempt(**body: object) -> httpx.Response:
        payload: dict[str, object] = {"username": "fresh", "email": "fresh@example.org",
                                      "password": "a long passphrase"}
        payload.update(body)
        async with new_client(app, f"10.9.0.{len(str(body))}") as http:
            return await http.post("/api/auth/register", json=payload)

    cases: list[tuple[dict[str, object], str]] = [
        ({"username": "TAKEN"}, "Username already exists"),
        ({"email": "Taken@Example.org"}, "Email already exists"),
        ({"password": "short"}, "Password too short"),
        ({"password": "password123"}, "Password is too common"),
        ({"organisation_id": 424242}, "Organisation not found"),
    ]
    for body, detail in cases:
        response = await attempt(**body)
        assert response.status_code == 400, body
        assert response.json() == {"detail": detail}
    malformed = await attempt(email="not-an-email")
    assert malformed.status_code == 422
    runtime = runtime_of(app)
    async with runtime.session_factory() as db:
        count = len((await db.execute(select(User.id))).all())
    assert count == 1


async def test_register_rate_limit(client: httpx.AsyncClient) -> None:
    statuses = []
    for index in range(4):
        response = await client.post("/api/auth/register", json={
            "username": f"r{index}", "email": f"r{index}@example.org",
            "password": "a long passphrase"})
        statuses.append(response.status_code)
    assert statuses == [200, 200, 200, 429]
