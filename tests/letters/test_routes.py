"""Letters API: create, list, read; patient access, CSRF, clinical switch, audit."""

from __future__ import annotations

import re
from dataclasses import dataclass

import httpx
import pytest
from fastapi import FastAPI
from sqlalchemy import select

from quill.access.models import ExternalGrant
from quill.audit.models import AuditEvent
from quill.clock import ManualClock
from tests.helpers import (
    LoggedIn,
    cookie_client,
    logged_in,
    make_organisation,
    make_user,
    runtime_of,
)

UID = re.compile(r"^[0-9a-f-]{36}::[^:]+::1$")
LETTER = {"title": "Clinic letter", "body": "# Seen today\n\n*Better*.",
          "author_name": "Dr Who", "author_email": "who@example.org"}


async def grant(app: FastAPI, user_id: int, patient_id: str, *, revoked: bool) -> None:
    runtime = runtime_of(app)
    now = runtime.clock.now()
    async with runtime.session_factory() as db, db.begin():
        db.add(ExternalGrant(user_id=user_id, patient_id=patient_id, user_type="external_hcp",
                             granted_at=now, revoked_at=now if revoked else None))


@dataclass
class World:
    staff: LoggedIn
    admin: LoggedIn


@pytest.fixture
async def world(app: FastAPI) -> World:
    staff = await logged_in(app, "dr-a", level="staff", profession="consultant")
    admin = await logged_in(app, "admin-a", level="admin", profession="administrator")
    await make_organisation(app, "North", staff=[staff.user_id], primary=False,
                            patients=["pat-1", "pat-2"])
    return World(staff, admin)


async def post(client: httpx.AsyncClient, who: LoggedIn, patient: str,
               body: dict[str, object] | None = None) -> httpx.Response:
    return await client.post(f"/api/patients/{patient}/letters", json=body or LETTER,
                             headers=who.headers)


async def test_create_list_and_read_a_letter(
    app: FastAPI, client: httpx.AsyncClient, world: World
) -> None:
    created = await post(client, world.staff, "pat-1")
    assert created.status_code == 200
    body = created.json()
    assert body["patient_id"] == "pat-1"
    assert body["title"] == "Clinic letter"
    uid = body["composition_uid"]
    assert UID.match(uid)
    listed = await client.get("/api/patients/pat-1/letters", headers=world.staff.headers)
    assert listed.status_code == 200
    assert listed.json() == {"patient_id": "pat-1", "next_cursor": None, "letters": [{
        "composition_uid": uid, "title": "Clinic letter", "author_name": "Dr Who",
        "created_at": "2026-01-01T09:00:00Z"}]}
    one = await client.get(f"/api/patients/pat-1/letters/{uid}", headers=world.staff.headers)
    assert one.status_code == 200
    data = one.json()
    assert data["composition_uid"] == uid
    assert data["data"]["archetype_node_id"] == "openEHR-EHR-COMPOSITION.report.v1"
    assert data["data"]["name"]["value"] == "Clinic letter"
    by_object = await client.get(f"/api/patients/pat-1/letters/{uid.split('::')[0]}",
                                 headers=world.staff.headers)
    assert by_object.json()["composition_uid"] == uid


async def test_reads_and_writes_are_audited_with_the_patient(
    app: FastAPI, client: httpx.AsyncClient, world: World
) -> None:
    uid = (await post(client, world.staff, "pat-1")).json()["composition_uid"]
    await client.get("/api/patients/pat-1/letters", headers=world.staff.headers)
    await client.get(f"/api/patients/pat-1/letters/{uid}", headers=world.staff.headers)
    async with runtime_of(app).session_factory() as db:
        events = (await db.execute(select(AuditEvent).order_by(AuditEvent.seq))).scalars().all()
    actions = [(e.action, e.patient_id, e.actor_id) for e in events]
    assert actions == [("letter.create", "pat-1", world.staff.user_id),
                       ("letter.list", "pat-1", world.staff.user_id),
                       ("letter.read", "pat-1", world.staff.user_id)]
    assert events[0].resource_id == uid


async def test_newest_first_with_paging(
    app: FastAPI, client: httpx.AsyncClient, world: World, clock: ManualClock
) -> None:
    titles = []
    for index in range(5):
        titles.append(f"Letter {index}")
        await post(client, world.staff, "pat-1", {**LETTER, "title": titles[-1]})
        clock.advance(seconds=30)
    seen: list[str] = []
    cursor = None
    while True:
        params: dict[str, str | int] = {"limit": 2}
        if cursor:
            params["cursor"] = cursor
        page = (await client.get("/api/patients/pat-1/letters", params=params,
                                 headers=world.staff.headers)).json()
        seen += [item["title"] for item in page["letters"]]
        cursor = page["next_cursor"]
        if cursor is None:
            break
    assert seen == list(reversed(titles))
    bad = await client.get("/api/patients/pat-1/letters", params={"cursor": "x!"},
                           headers=world.staff.headers)
    assert bad.status_code == 400
    too_many = await client.get("/api/patients/pat-1/letters", params={"limit": 201},
                                headers=world.staff.headers)
    assert too_many.status_code == 422


async def test_a_letter_of_another_patient_is_not_found(
    app: FastAPI, client: httpx.AsyncClient, world: World
) -> None:
    uid = (await post(client, world.staff, "pat-1")).json()["composition_uid"]
    await post(client, world.staff, "pat-2")
    for who in (world.staff, world.admin):
        response = await client.get(f"/api/patients/pat-2/letters/{uid}", headers=who.headers)
        assert response.status_code == 404
    never = await client.get(f"/api/patients/pat-9/letters/{uid}", headers=world.admin.headers)
    assert never.status_code == 404
    odd = await client.get("/api/patients/pat-1/letters/not::a::uid",
                           headers=world.admin.headers)
    assert odd.status_code == 404


async def test_callers_without_access_get_404_everywhere(
    app: FastAPI, client: httpx.AsyncClient, world: World
) -> None:
    uid = (await post(client, world.staff, "pat-1")).json()["composition_uid"]
    other_patient = await logged_in(app, "pat-user-2", fhir_patient_id="pat-2")
    other_staff = await logged_in(app, "dr-b", level="staff", profession="consultant")
    await make_organisation(app, "South", staff=[other_staff.user_id], primary=False,
                            patients=["pat-3"])
    no_grant = await logged_in(app, "ext-a", level="external_hcp", profession="patient")
    revoked = await logged_in(app, "ext-b", level="external_hcp", profession="patient")
    await grant(app, revoked.user_id, "pat-1", revoked=True)
    await grant(app, no_grant.user_id, "pat-2", revoked=False)
    for who in (other_patient, other_staff, no_grant, revoked):
        listed = await client.get("/api/patients/pat-1/letters", headers=who.headers)
        one = await client.get(f"/api/patients/pat-1/letters/{uid}", headers=who.headers)
        assert (listed.status_code, one.status_code) == (404, 404), who.username
        assert "Clinic letter" not in listed.text + one.text
    written = await post(client, other_staff, "pat-1")
    assert written.status_code == 404


async def test_patient_and_granted_external_read_but_cannot_write(
    app: FastAPI, client: httpx.AsyncClient, world: World
) -> None:
    uid = (await post(client, world.staff, "pat-1")).json()["composition_uid"]
    patient = await logged_in(app, "pat-user-1", fhir_patient_id="pat-1")
    external = await logged_in(app, "ext-c", level="external_hcp", profession="patient")
    await grant(app, external.user_id, "pat-1", revoked=False)
    for who in (patient, external):
        one = await client.get(f"/api/patients/pat-1/letters/{uid}", headers=who.headers)
        assert one.status_code == 200
        assert (await post(client, who, "pat-1")).status_code == 403


async def test_cookie_writes_need_csrf(app: FastAPI, world: World) -> None:
    user = await make_user(app, "dr-cookie", level="staff", profession="consultant")
    await make_organisation(app, "Cookie org", staff=[user.id], primary=False,
                            patients=["pat-5"])
    async with await cookie_client(app, user) as browser:
        refused = await browser.post("/api/patients/pat-5/letters", json=LETTER)
        assert refused.status_code == 403
        accepted = await browser.post("/api/patients/pat-5/letters", json=LETTER,
                                      headers={"X-CSRF-Token": browser.cookies["XSRF-TOKEN"]})
        assert accepted.status_code == 200


async def test_bad_bodies_are_rejected(client: httpx.AsyncClient, world: World) -> None:
    bodies: list[dict[str, object]] = [
        {"title": "", "body": "x"}, {"title": "t", "body": "x", "extra": 1},
        {"title": "t", "body": "x", "author_email": "not-an-email"}, {"body": "x"}]
    for body in bodies:
        response = await post(client, world.staff, "pat-1", body)
        assert response.status_code == 422, body


async def test_clinical_switch_answers_503(app: FastAPI, client: httpx.AsyncClient,
                                           world: World) -> None:
    runtime_of(app).settings.clinical_services_enabled = False
    for response in (await post(client, world.staff, "pat-1"),
                     await client.get("/api/patients/pat-1/letters"),
                     await client.get("/api/patients/pat-1/letters/x",
                                      headers=world.admin.headers)):
        assert response.status_code == 503
        assert response.json() == {"detail": "Clinical services are disabled"}


async def test_anonymous_is_401(client: httpx.AsyncClient, world: World) -> None:
    assert (await client.get("/api/patients/pat-1/letters")).status_code == 401
    assert (await client.post("/api/patients/pat-1/letters", json=LETTER)).status_code == 401


async def test_clock_moves_created_at(
    client: httpx.AsyncClient, world: World, clock: ManualClock
) -> None:
    clock.advance(minutes=3)
    await post(client, world.staff, "pat-1")
    page = (await client.get("/api/patients/pat-1/letters", headers=world.staff.headers)).json()
    expected = (clock.now()).isoformat().replace("+00:00", "Z")
    assert page["letters"][0]["created_at"] == expected


async def test_unknown_fhir_patient_is_404(client: httpx.AsyncClient, world: World) -> None:
    # Admins may see every patient, but a letter needs a Patient that exists in FHIR.
    written = await post(client, world.admin, "pat-not-in-fhir")
    assert written.status_code == 404
    assert written.json() == {"detail": "Patient not found"}
    listed = await client.get("/api/patients/pat-not-in-fhir/letters",
                              headers=world.admin.headers)
    assert listed.status_code == 404
