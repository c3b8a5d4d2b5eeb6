"""Users administration: creation, updates, listing and patient links."""

from __future__ import annotations

from typing import Any

import httpx
import pytest
from fastapi import FastAPI

from quill.access.models import PatientMembership, StaffMembership
from quill.identity.models import User
from tests.access.world import build_world
from tests.audit_rows import audit_actions
from tests.helpers import logged_in, runtime_of
from tests.patients.support import put_patients

PASSWORD = "a long enough password"


def new_user(**overrides: Any) -> dict[str, Any]:
    body: dict[str, Any] = {"name": "Nina Nurse", "username": "nina", "email": "Nina@Example.org",
                            "password": PASSWORD, "base_profession": "registered_nurse",
                            "system_permissions": "staff"}
    body.update(overrides)
    return body


async def stored(app: FastAPI, user_id: int) -> User:
    async with runtime_of(app).session_factory() as db:
        user = await db.get(User, user_id)
        assert user is not None
        return user


async def test_admin_creates_a_user(app: FastAPI, client: httpx.AsyncClient) -> None:
    admin = await logged_in(app, "admin", level="admin")
    response = await client.post("/api/users", json=new_user(), headers=admin.headers)
    assert response.status_code == 200
    body = response.json()
    assert body == {"detail": "created", "id": body["id"], "username": "nina",
                    "email": "nina@example.org", "is_active": True}
    user = await stored(app, body["id"])
    assert user.system_permissions == "staff"
    assert user.base_profession == "registered_nurse"
    assert user.password_hash != PASSWORD
    assert await runtime_of(app).passwords.verify(user.password_hash, PASSWORD)
    assert ("user.create", None, admin.user_id) in await audit_actions(app)


async def test_username_defaults_to_the_email(app: FastAPI, client: httpx.AsyncClient) -> None:
    admin = await logged_in(app, "admin", level="admin")
    body = new_user()
    del body["username"]
    response = await client.post("/api/users", json=body, headers=admin.headers)
    assert response.json()["username"] == "nina@example.org"


@pytest.mark.parametrize(("overrides", "detail"), [
    ({"username": "ADMIN"}, "Username already exists"),
    ({"email": "ADMIN@example.org"}, "Email already exists"),
    ({"password": "short"}, "Password too short"),
    ({"base_profession": "wizard"}, "Unknown profession: wizard"),
    ({"additional_competencies": ["fly"]}, "Unknown competency: fly"),
    ({"removed_competencies": ["fly"]}, "Unknown competency: fly"),
])
async def test_create_rejects_invalid_input(
    app: FastAPI, client: httpx.AsyncClient, overrides: dict[str, Any], detail: str
) -> None:
    admin = await logged_in(app, "admin", level="admin")
    response = await client.post("/api/users", json=new_user(**overrides), headers=admin.headers)
    assert response.status_code == 400
    assert response.json()["detail"] == detail


async def test_unknown_level_is_a_400(app: FastAPI, client: httpx.AsyncClient) -> None:
    admin = await logged_in(app, "admin", level="admin")
    response = await client.post("/api/users", json=new_user(system_permissions="god"),
                                 headers=admin.headers)
    assert response.status_code == 400
    assert response.json()["detail"].startswith("Unknown permission level: god")


@pytest.mark.parametrize("level", ["admin", "superadmin"])
async def test_admin_cannot_create_admins(
    app: FastAPI, client: httpx.AsyncClient, level: str
) -> None:
    admin = await logged_in(app, "admin", level="admin")
    response = await client.post("/api/users", json=new_user(system_permissions=level),
                                 headers=admin.headers)
    assert response.status_code == 403
    superadmin = await logged_in(app, "root", level="superadmin")
    response = await client.post("/api/users", json=new_user(system_permissions=level),
                                 headers=superadmin.headers)
    assert response.status_code == 200


async def test_admin_grants_high_risk_competency_at_creation(
    app: FastAPI, client: httpx.AsyncClient
) -> None:
    admin = await logged_in(app, "admin", level="admin")
    response = await client.post(
        "/api/users", json=new_user(additional_competencies=["interpret_ecg"]),
        headers=admin.headers)
    assert response.status_code == 200
    assert (await stored(app, response.json()["id"])).additional_competencies == [
        "interpret_ecg"]


async def test_update_changes_fields_and_audits(app: FastAPI, client: httpx.AsyncClient) -> None:
    admin = await logged_in(app, "admin", level="admin")
    target = await logged_in(app, "target", level="patient")
    response = await client.patch(f"/api/users/{target.user_id}", headers=admin.headers, json={
        "name": "New Name", "email": "New@Example.org", "system_permissions": "staff",
        "base_profession": "pharmacist", "removed_competencies": ["prescribe_non_controlled"]})
    assert response.status_code == 200
    assert response.json() == {"detail": "updated", "id": target.user_id,
                               "username": "target", "email": "new@example.org",
                               "is_active": True}
    user = await stored(app, target.user_id)
    assert (user.full_name, user.system_permissions, user.base_profession) == (
        "New Name", "staff", "pharmacist")
    actions = [a for a, _, _ in await audit_actions(app)]
    assert {"user.update", "user.level_change", "user.competencies_change"} <= set(actions)


async def test_update_unknown_user_is_404(app: FastAPI, client: httpx.AsyncClient) -> None:
    admin = await logged_in(app, "admin", level="admin")
    response = await client.patch("/api/users/999999", json={"name": "x"}, headers=admin.headers)
    assert response.status_code == 404


async def test_update_rejects_a_taken_username(app: FastAPI, client: httpx.AsyncClient) -> None:
    admin = await logged_in(app, "admin", level="admin")
    target = await logged_in(app, "target", level="staff")
    response = await client.patch(f"/api/users/{target.user_id}", json={"username": "Admin"},
                                  headers=admin.headers)
    assert response.status_code == 400
    assert response.json()["detail"] == "Username already exists"


async def test_password_set_by_admin_ends_sessions(
    app: FastAPI, client: httpx.AsyncClient
) -> None:
    admin = await logged_in(app, "admin", level="admin")
    target = await logged_in(app, "target", level="staff")
    assert (await client.get("/api/cbac/my-competencies", headers=target.headers)).status_code \
        == 200
    response = await client.patch(f"/api/users/{target.user_id}",
                                  json={"password": "another long password"},
                                  headers=admin.headers)
    assert response.status_code == 200
    user = await stored(app, target.user_id)
    assert await runtime_of(app).passwords.verify(user.password_hash, "another long password")
    assert (await client.get("/api/cbac/my-competencies", headers=target.headers)).status_code \
        == 401


@pytest.mark.parametrize("level", ["admin", "superadmin"])
async def test_nobody_changes_their_own_level(
    app: FastAPI, client: httpx.AsyncClient, level: str
) -> None:
    me = await logged_in(app, "me", level=level)
    response = await client.patch(f"/api/users/{me.user_id}",
                                  json={"system_permissions": "staff"}, headers=me.headers)
    assert response.status_code == 403
    response = await client.patch(f"/api/users/{me.user_id}", json={"name": "Still Me"},
                                  headers=me.headers)
    assert response.status_code == 200


async def test_only_superadmin_promotes_or_demotes_admins(
    app: FastAPI, client: httpx.AsyncClient
) -> None:
    admin = await logged_in(app, "admin", level="admin")
    other_admin = await logged_in(app, "admin2", level="admin")
    staff = await logged_in(app, "staffer", level="staff")
    root = await logged_in(app, "root", level="superadmin")
    for target, level in ((staff, "admin"), (other_admin, "staff")):
        response = await client.patch(f"/api/users/{target.user_id}",
                                      json={"system_permissions": level}, headers=admin.headers)
        assert response.status_code == 403
        response = await client.patch(f"/api/users/{target.user_id}",
                                      json={"system_permissions": level}, headers=root.headers)
        assert response.status_code == 200
    assert ("user.level_change", None, root.user_id) in await audit_actions(app)


async def test_get_user_detail(app: FastAPI, client: httpx.AsyncClient) -> None:
    admin = await logged_in(app, "admin", level="admin")
    target = await logged_in(app, "target", level="staff", profession="paramedic")
    async with runtime_of(app).session_factory() as db, db.begin():
        user = await db.get(User, target.user_id)
        assert user is not None
        user.additional_competencies = ["interpret_ecg"]
    response = await client.get(f"/api/users/{target.user_id}", headers=admin.headers)
    assert response.json() == {
        "id": target.user_id, "username": "target", "email": "target@example.org",
        "name": "Target", "base_profession": "paramedic",
        "additional_competencies": ["interpret_ecg"], "removed_competencies": [],
        "system_permissions": "staff", "is_active": True}
    assert (await client.get("/api/users/424242", headers=admin.headers)).status_code == 404


async def test_admin_lists_users_with_pages_and_level_filter(
    app: FastAPI, client: httpx.AsyncClient
) -> None:
    admin = await logged_in(app, "admin", level="admin")
    for index in range(3):
        await logged_in(app, f"p{index}")
    await logged_in(app, "s1", level="staff")
    first = (await client.get("/api/users?limit=2", headers=admin.headers)).json()
    assert len(first["users"]) == 2
    assert first["next_cursor"]
    rest = (await client.get(f"/api/users?limit=200&cursor={first['next_cursor']}",
                             headers=admin.headers)).json()
    assert rest["next_cursor"] is None
    names = [u["username"] for u in first["users"] + rest["users"]]
    assert sorted(names) == ["admin", "p0", "p1", "p2", "s1"]
    staff_up = (await client.get("/api/users?permission_level=staff",
                                 headers=admin.headers)).json()
    assert {u["username"] for u in staff_up["users"]} == {"admin", "s1"}
    bad = await client.get("/api/users?permission_level=wizard", headers=admin.headers)
    assert bad.status_code == 400
    assert (await client.get("/api/users?cursor=%%%", headers=admin.headers)).status_code == 400


async def test_link_patient(app: FastAPI, client: httpx.AsyncClient) -> None:
    admin = await logged_in(app, "admin", level="admin")
    first = await logged_in(app, "first")
    second = await logged_in(app, "second")
    await put_patients(app, "pat-1")
    url = f"/api/users/{first.user_id}/link-patient"
    no_such = await client.patch(url, json={"fhir_patient_id": "pat-none"},
                                 headers=admin.headers)
    assert no_such.status_code == 404
    assert no_such.json() == {"detail": "Patient not found"}
    response = await client.patch(url, json={"fhir_patient_id": "pat-1"}, headers=admin.headers)
    assert response.status_code == 200
    assert response.json() == {"user_id": first.user_id, "fhir_patient_id": "pat-1"}
    assert (await stored(app, first.user_id)).fhir_patient_id == "pat-1"
    assert ("user.link_patient", "pat-1", admin.user_id) in await audit_actions(app)
    again = await client.patch(url, json={"fhir_patient_id": "pat-1"}, headers=admin.headers)
    assert again.status_code == 200
    taken = await client.patch(f"/api/users/{second.user_id}/link-patient",
                               json={"fhir_patient_id": "pat-1"}, headers=admin.headers)
    assert taken.status_code == 409
    missing = await client.patch(url, json={}, headers=admin.headers)
    assert missing.status_code == 422
    unknown = await client.patch("/api/users/999999/link-patient",
                                 json={"fhir_patient_id": "pat-2"}, headers=admin.headers)
    assert unknown.status_code == 404


async def test_staff_never_see_another_organisations_staff(
    app: FastAPI, client: httpx.AsyncClient
) -> None:
    world = await build_world(app)
    runtime = runtime_of(app)
    # Patient A also belongs to organisation B: sharing a patient must not expose B's staff.
    async with runtime.session_factory() as db, db.begin():
        db.add(PatientMembership(organisation_id=world.org_b, patient_id=world.patient_a,
                                 is_primary=False, created_at=runtime.clock.now()))
    other = world.users["staff_other"]
    headers = world.headers["staff_same"]
    seen: list[str] = []
    for url in ("/api/users", f"/api/users?patient_id={world.patient_a}",
                f"/api/organizations/{world.org_a}"):
        response = await client.get(url, headers=headers)
        assert response.status_code == 200
        seen.append(response.text)
    blocked = await client.get(f"/api/organizations/{world.org_b}", headers=headers)
    assert blocked.status_code == 403
    for text in seen:
        assert other.username not in text
        assert other.email not in text
    linked = (await client.get(f"/api/users?patient_id={world.patient_a}",
                               headers=headers)).json()
    assert {u["username"] for u in linked["users"]} == {
        world.users["patient"].username, world.users["staff_same"].username}
    admin_view = (await client.get(f"/api/users?patient_id={world.patient_a}",
                                   headers=world.headers["admin"])).json()
    assert other.username in {u["username"] for u in admin_view["users"]}


async def test_grant_holders_are_linked_to_their_patient(
    app: FastAPI, client: httpx.AsyncClient
) -> None:
    world = await build_world(app)
    response = await client.get(f"/api/users?patient_id={world.patient_b}",
                                headers=world.headers["staff_other"])
    names = {u["username"] for u in response.json()["users"]}
    assert names == {world.users["external"].username, world.users["staff_other"].username}


async def test_patient_level_members_are_not_listed_as_staff(
    app: FastAPI, client: httpx.AsyncClient
) -> None:
    world = await build_world(app)
    runtime = runtime_of(app)
    registered = await logged_in(app, "registered")
    async with runtime.session_factory() as db, db.begin():
        # What registration with an organisation does for a new patient-level account.
        db.add(StaffMembership(organisation_id=world.org_a, user_id=registered.user_id,
                               is_primary=True, created_at=runtime.clock.now()))
    headers = world.headers["staff_same"]
    for url in ("/api/users", f"/api/users?patient_id={world.patient_a}"):
        names = {u["username"] for u in (await client.get(url, headers=headers)).json()["users"]}
        assert "registered" not in names
        assert world.users["staff_same"].username in names


@pytest.mark.parametrize(("body", "detail"), [
    ({"system_permissions": ""}, "Unknown permission level: "),
    ({"system_permissions": "wizard"}, "Unknown permission level: wizard"),
    ({"base_profession": "wizard"}, "Unknown profession: wizard"),
    ({"additional_competencies": ["fly"]}, "Unknown competency: fly"),
    ({"password": "short"}, "Password too short"),
])
async def test_update_rejects_invalid_input(
    app: FastAPI, client: httpx.AsyncClient, body: dict[str, Any], detail: str
) -> None:
    admin = await logged_in(app, "admin", level="admin")
    target = await logged_in(app, "target", level="staff")
    response = await client.patch(f"/api/users/{target.user_id}", json=body,
                                  headers=admin.headers)
    assert response.status_code == 400
    assert response.json()["detail"].startswith(detail)
