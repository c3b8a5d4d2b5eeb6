"""Organisations: CRUD, types, staff and patient membership, features, audit."""

from __future__ import annotations

from typing import Any

import httpx
from fastapi import FastAPI
from sqlalchemy import select

from quill.access.features import enabled_features_for_user
from quill.access.models import StaffMembership
from tests.audit_rows import audit_actions
from tests.helpers import LoggedIn, logged_in, make_organisation, runtime_of
from tests.patients.support import put_patients

VALID_TYPES = ("hospital_team", "gp_practice", "private_clinic", "department",
               "teaching_establishment")


async def create_org(client: httpx.AsyncClient, admin: LoggedIn, name: str = "Ward 9",
                     kind: str = "hospital_team") -> dict[str, Any]:
    response = await client.post("/api/organizations", json={"name": name, "type": kind},
                                 headers=admin.headers)
    assert response.status_code == 200, response.text
    body: dict[str, Any] = response.json()
    return body


async def test_create_read_update_list(app: FastAPI, client: httpx.AsyncClient) -> None:
    admin = await logged_in(app, "admin", level="admin")
    org = await create_org(client, admin)
    assert org["name"] == "Ward 9"
    assert org["type"] == "hospital_team"
    assert org["location"] is None
    assert set(org) == {"id", "name", "type", "location", "created_at", "updated_at"}
    response = await client.put(f"/api/organizations/{org['id']}",
                                json={"location": "Leeds", "type": "department"},
                                headers=admin.headers)
    assert response.status_code == 200
    assert (response.json()["location"], response.json()["type"]) == ("Leeds", "department")
    listed = (await client.get("/api/organizations", headers=admin.headers)).json()
    assert [o["name"] for o in listed["organizations"]] == ["Ward 9"]
    assert listed["next_cursor"] is None
    missing = await client.put("/api/organizations/999999", json={"name": "x"},
                               headers=admin.headers)
    assert missing.status_code == 404
    assert (await client.get("/api/organizations/999999",
                             headers=admin.headers)).status_code == 404
    actions = [a for a, _, _ in await audit_actions(app)]
    assert actions[:2] == ["organisation.create", "organisation.update"]


async def test_unknown_type_lists_the_valid_ones(app: FastAPI,
                                                client: httpx.AsyncClient) -> None:
    admin = await logged_in(app, "admin", level="admin")
    for method, url in (("POST", "/api/organizations"),
                        ("PUT", f"/api/organizations/{(await create_org(client, admin))['id']}")):
        response = await client.request(method, url, json={"name": "x", "type": "castle"},
                                        headers=admin.headers)
        assert response.status_code == 400
        detail = response.json()["detail"]
        assert "castle" in detail
        assert all(kind in detail for kind in VALID_TYPES)


async def test_staff_membership(app: FastAPI, client: httpx.AsyncClient) -> None:
    admin = await logged_in(app, "admin", level="admin")
    nurse = await logged_in(app, "nurse", level="staff")
    patient = await logged_in(app, "pat")
    external = await logged_in(app, "ext", level="external_hcp")
    org = await create_org(client, admin)
    url = f"/api/organizations/{org['id']}/staff"
    added = await client.post(url, json={"user_id": nurse.user_id}, headers=admin.headers)
    assert added.json() == {"organisation_id": org["id"], "user_id": nurse.user_id,
                            "username": "nurse"}
    again = await client.post(url, json={"user_id": nurse.user_id}, headers=admin.headers)
    assert again.status_code == 409
    for below in (patient, external):
        response = await client.post(url, json={"user_id": below.user_id},
                                     headers=admin.headers)
        assert response.status_code == 400
    assert (await client.post(url, json={"user_id": 999999},
                              headers=admin.headers)).status_code == 404
    detail = (await client.get(f"/api/organizations/{org['id']}", headers=nurse.headers)).json()
    assert detail["staff_count"] == 1
    assert detail["staff_members"] == [{"id": nurse.user_id, "username": "nurse",
                                        "email": "nurse@example.org", "is_primary": False}]
    removed = await client.delete(f"{url}/{nurse.user_id}", headers=admin.headers)
    assert removed.json() == {"status": "removed"}
    gone = await client.delete(f"{url}/{nurse.user_id}", headers=admin.headers)
    assert gone.status_code == 404
    actions = [a for a, _, _ in await audit_actions(app)]
    assert {"organisation.staff_add", "organisation.staff_remove"} <= set(actions)


async def test_at_most_one_primary_organisation(app: FastAPI,
                                                client: httpx.AsyncClient) -> None:
    admin = await logged_in(app, "admin", level="admin")
    nurse = await logged_in(app, "nurse", level="staff")
    first = await create_org(client, admin, "First")
    second = await create_org(client, admin, "Second")
    for org in (first, second):
        response = await client.post(f"/api/organizations/{org['id']}/staff",
                                     json={"user_id": nurse.user_id, "is_primary": True},
                                     headers=admin.headers)
        assert response.status_code == 200
    async with runtime_of(app).session_factory() as db:
        rows = (await db.execute(select(StaffMembership.organisation_id).where(
            StaffMembership.user_id == nurse.user_id, StaffMembership.is_primary.is_(True),
        ))).scalars().all()
    assert list(rows) == [second["id"]]


async def test_patient_membership(app: FastAPI, client: httpx.AsyncClient) -> None:
    admin = await logged_in(app, "admin", level="admin")
    org = await create_org(client, admin)
    url = f"/api/organizations/{org['id']}/patients"
    unknown = await client.post(url, json={"patient_id": "pat-none"}, headers=admin.headers)
    assert unknown.status_code == 404
    assert unknown.json() == {"detail": "Patient not found"}
    await put_patients(app, "pat-7")
    added = await client.post(url, json={"patient_id": "pat-7", "is_primary": True},
                              headers=admin.headers)
    assert added.json() == {"organisation_id": org["id"], "patient_id": "pat-7"}
    assert (await client.post(url, json={"patient_id": "pat-7"},
                              headers=admin.headers)).status_code == 409
    assert (await client.post(url, json={"patient_id": "not valid!"},
                              headers=admin.headers)).status_code == 422
    assert (await client.post("/api/organizations/999999/patients", json={"patient_id": "p"},
                              headers=admin.headers)).status_code == 404
    detail = (await client.get(f"/api/organizations/{org['id']}", headers=admin.headers)).json()
    assert detail["patient_count"] == 1
    assert detail["patient_members"] == [{"patient_id": "pat-7", "is_primary": True}]
    removed = await client.delete(f"{url}/pat-7", headers=admin.headers)
    assert removed.json() == {"status": "removed"}
    assert (await client.delete(f"{url}/pat-7", headers=admin.headers)).status_code == 404
    assert ("organisation.patient_add", "pat-7", admin.user_id) in await audit_actions(app)
    assert ("organisation.patient_remove", "pat-7", admin.user_id) in await audit_actions(app)


async def test_features(app: FastAPI, client: httpx.AsyncClient) -> None:
    admin = await logged_in(app, "admin", level="admin")
    nurse = await logged_in(app, "nurse", level="staff")
    org = await create_org(client, admin)
    await client.post(f"/api/organizations/{org['id']}/staff",
                      json={"user_id": nurse.user_id, "is_primary": True}, headers=admin.headers)
    base = f"/api/organizations/{org['id']}/features"

    async def toggle(key: str, enabled: bool) -> httpx.Response:
        return await client.put(f"{base}/{key}", json={"enabled": enabled},
                                headers=admin.headers)

    assert (await toggle("messaging", True)).json() == {"status": "enabled"}
    assert (await toggle("messaging", True)).json() == {"status": "already_enabled"}
    assert (await toggle("letters", True)).json() == {"status": "enabled"}
    listed = (await client.get(base, headers=admin.headers)).json()["features"]
    assert [(f["feature_key"], f["enabled_by"]) for f in listed] == [
        ("letters", admin.user_id), ("messaging", admin.user_id)]
    async with runtime_of(app).session_factory() as db:
        assert await enabled_features_for_user(db, nurse.user_id) == ["letters", "messaging"]
    assert (await toggle("messaging", False)).json() == {"status": "disabled"}
    assert (await toggle("messaging", False)).json() == {"status": "already_disabled"}
    unknown = await toggle("jetpacks", True)
    assert unknown.status_code == 400
    assert "messaging" in unknown.json()["detail"]
    assert (await client.put("/api/organizations/999999/features/messaging",
                             json={"enabled": True}, headers=admin.headers)).status_code == 404
    actions = [a for a, _, _ in await audit_actions(app)]
    assert actions.count("organisation.feature_enabled") == 2
    assert actions.count("organisation.feature_disabled") == 1


async def test_staff_see_only_their_own_organisation(app: FastAPI,
                                                     client: httpx.AsyncClient) -> None:
    admin = await logged_in(app, "admin", level="admin")
    mine = await create_org(client, admin, "Mine")
    theirs = await create_org(client, admin, "Theirs")
    nurse = await logged_in(app, "nurse", level="staff")
    stranger = await logged_in(app, "stranger", level="staff")
    await client.post(f"/api/organizations/{mine['id']}/staff", json={"user_id": nurse.user_id},
                      headers=admin.headers)
    await client.post(f"/api/organizations/{theirs['id']}/staff",
                      json={"user_id": stranger.user_id}, headers=admin.headers)
    own = await client.get(f"/api/organizations/{mine['id']}", headers=nurse.headers)
    assert own.status_code == 200
    assert "stranger" not in own.text
    other = await client.get(f"/api/organizations/{theirs['id']}", headers=nurse.headers)
    assert other.status_code == 403
    assert "stranger" not in other.text


async def test_blank_name_is_a_400(app: FastAPI, client: httpx.AsyncClient) -> None:
    admin = await logged_in(app, "admin", level="admin")
    response = await client.post("/api/organizations", json={"name": "   ", "type": "department"},
                                 headers=admin.headers)
    assert response.status_code == 400


async def test_self_registered_users_are_never_listed_as_staff(
    app: FastAPI, client: httpx.AsyncClient,
) -> None:
    clinician = await logged_in(app, "clinician", level="staff",
                                profession="registered_nurse")
    admin = await logged_in(app, "admin", level="admin")
    org = await make_organisation(app, "Lakeside", staff=[clinician.user_id])
    registered = await client.post("/api/auth/register", json={
        "username": "walkin", "email": "walkin@example.org", "password": "a long passphrase",
        "organisation_id": org})
    assert registered.status_code == 200
    for who in (clinician, admin):
        detail = (await client.get(f"/api/organizations/{org}", headers=who.headers)).json()
        assert [m["username"] for m in detail["staff_members"]] == ["clinician"]
        assert detail["staff_count"] == 1
        assert "walkin@example.org" not in str(detail)
    colleagues = await client.get("/api/users", headers=clinician.headers)
    assert [u["username"] for u in colleagues.json()["users"]] == ["clinician"]
