"""Patients routes on the embedded FHIR store (SQLite and PostgreSQL)."""

from __future__ import annotations

from typing import Any

import httpx
from fastapi import FastAPI
from sqlalchemy import select

from quill.access.models import PatientMembership
from quill.patients.models import PatientRecord
from quill.patients.nhs_number import NHS_NUMBER_SYSTEM
from tests.audit_rows import audit_actions
from tests.helpers import LoggedIn, cookie_client, logged_in, make_user, runtime_of
from tests.patients.conftest import VALID_NHS, Clinic

NEW = {"given_name": "Ada", "family_name": "Lovelace", "birth_date": "1815-12-10",
       "gender": "female"}


async def create(client: httpx.AsyncClient, who: LoggedIn, **fields: Any) -> httpx.Response:
    return await client.post("/api/patients", json={**NEW, **fields}, headers=who.headers)


def identifiers(patient: dict[str, Any]) -> dict[str, str]:
    return {i["system"]: i["value"] for i in patient.get("identifier", [])}


async def test_create_stores_a_fhir_patient(app: FastAPI, client: httpx.AsyncClient,
                                            clinic: Clinic) -> None:
    created = await create(client, clinic.staff, nhs_number="943 476 5919", mrn="MRN-1")
    assert created.status_code == 200
    patient = created.json()
    assert patient["resourceType"] == "Patient"
    assert patient["name"][0]["given"] == ["Ada"]
    assert patient["name"][0]["family"] == "Lovelace"
    assert patient["birthDate"] == "1815-12-10"
    assert patient["gender"] == "female"
    settings = runtime_of(app).settings
    assert identifiers(patient) == {NHS_NUMBER_SYSTEM: "9434765919",
                                    settings.mrn_system: "MRN-1"}
    assert created.headers["etag"] == 'W/"1"'
    pid = patient["id"]
    async with runtime_of(app).session_factory() as db:
        stored = await runtime_of(app).fhir.store(db).read("Patient", pid)
        orgs = (await db.execute(select(PatientMembership.organisation_id).where(
            PatientMembership.patient_id == pid))).scalars().all()
    assert stored["id"] == pid
    assert list(orgs) == [clinic.org_id]
    assert ("patient.create", pid, clinic.staff.user_id) in await audit_actions(app)
    read = await client.get(f"/api/patients/{pid}", headers=clinic.staff.headers)
    assert read.status_code == 200
    assert read.json() == patient


async def test_create_errors(client: httpx.AsyncClient, clinic: Clinic) -> None:
    bad_digit = await create(client, clinic.staff, nhs_number="9434765918")
    assert bad_digit.status_code == 422
    assert bad_digit.json()["detail"]["error_code"] == "invalid_nhs_number"
    for wrong in ("123", "94347659190", "94347A5919"):
        assert (await create(client, clinic.staff, nhs_number=wrong)).status_code == 422
    assert (await create(client, clinic.staff, nhs_number=VALID_NHS[1])).status_code == 200
    duplicate = await create(client, clinic.staff, nhs_number=VALID_NHS[1])
    assert duplicate.status_code == 409
    missing = await client.post("/api/patients", json={"given_name": "A"},
                                headers=clinic.staff.headers)
    assert missing.status_code == 422
    extra = await create(client, clinic.staff, shoe_size=9)
    assert extra.status_code == 422
    assert (await create(client, clinic.staff, gender="robot")).status_code == 422


async def test_create_with_client_id(client: httpx.AsyncClient, clinic: Clinic) -> None:
    created = await create(client, clinic.admin, patient_id="my-own-id")
    assert created.status_code == 200
    assert created.json()["id"] == "my-own-id"
    again = await create(client, clinic.admin, patient_id="my-own-id")
    assert again.status_code == 409
    assert (await create(client, clinic.admin, patient_id="not valid!")).status_code == 422


async def test_patients_and_externals_cannot_create(app: FastAPI, client: httpx.AsyncClient
                                                    ) -> None:
    patient = await logged_in(app, "pat-user", fhir_patient_id="p1")
    external = await logged_in(app, "ext-user", level="external_hcp", profession="external_hcp")
    for who in (patient, external):
        assert (await create(client, who)).status_code == 403
    assert (await client.post("/api/patients", json=NEW)).status_code == 401


async def test_creating_needs_csrf_with_cookies(app: FastAPI, clinic: Clinic) -> None:
    user = await make_user(app, "cookie-doc", level="staff", profession="consultant")
    async with await cookie_client(app, user) as browser:
        refused = await browser.post("/api/patients", json=NEW)
        assert refused.status_code == 403
        assert refused.json() == {"detail": "CSRF failed"}
        accepted = await browser.post("/api/patients", json=NEW, headers={
            "X-CSRF-Token": browser.cookies["XSRF-TOKEN"]})
        assert accepted.status_code == 200


async def test_read_unknown_and_invisible_are_404(client: httpx.AsyncClient,
                                                  clinic: Clinic) -> None:
    pid = (await create(client, clinic.staff)).json()["id"]
    for path in ("", "/demographics", "/metadata", "/shared-organisations"):
        hidden = await client.get(f"/api/patients/{pid}{path}", headers=clinic.outsider.headers)
        assert hidden.status_code == 404, path
        assert hidden.json() == {"detail": "Patient not found"}
        unknown = await client.get(f"/api/patients/nobody{path}", headers=clinic.admin.headers)
        assert unknown.status_code == 404, path
    odd = await client.get("/api/patients/not%20an%20id", headers=clinic.admin.headers)
    assert odd.status_code == 404


async def test_patch_changes_only_given_fields(app: FastAPI, client: httpx.AsyncClient,
                                               clinic: Clinic) -> None:
    pid = (await create(client, clinic.staff, nhs_number=VALID_NHS[0])).json()["id"]
    url = f"/api/patients/{pid}"
    patched = await client.patch(url, json={"family_name": "King"},
                                 headers=clinic.staff.headers)
    assert patched.status_code == 200
    body = patched.json()
    assert body["name"][0] == {"use": "official", "given": ["Ada"], "family": "King"}
    assert body["birthDate"] == "1815-12-10"
    assert body["gender"] == "female"
    assert identifiers(body)[NHS_NUMBER_SYSTEM] == VALID_NHS[0]
    assert patched.headers["etag"] == 'W/"2"'
    mrn = await client.patch(url, json={"mrn": "M-9"}, headers=clinic.staff.headers)
    assert identifiers(mrn.json()) == {NHS_NUMBER_SYSTEM: VALID_NHS[0],
                                       runtime_of(app).settings.mrn_system: "M-9"}
    assert ("patient.update", pid, clinic.staff.user_id) in await audit_actions(app)


async def test_patch_if_match(client: httpx.AsyncClient, clinic: Clinic) -> None:
    pid = (await create(client, clinic.staff)).json()["id"]
    url = f"/api/patients/{pid}"
    stale = await client.patch(url, json={"gender": "male"},
                               headers={**clinic.staff.headers, "If-Match": 'W/"7"'})
    assert stale.status_code == 412
    assert stale.json()["detail"]["error_code"] == "version_conflict"
    fresh = await client.patch(url, json={"gender": "male"},
                               headers={**clinic.staff.headers, "If-Match": 'W/"1"'})
    assert fresh.status_code == 200
    replay = await client.patch(url, json={"gender": "other"},
                                headers={**clinic.staff.headers, "If-Match": 'W/"1"'})
    assert replay.status_code == 412
    read = await client.get(url, headers=clinic.staff.headers)
    assert read.json()["gender"] == "male"


async def test_patch_errors(client: httpx.AsyncClient, clinic: Clinic) -> None:
    first = (await create(client, clinic.staff, nhs_number=VALID_NHS[0])).json()["id"]
    second = (await create(client, clinic.staff, nhs_number=VALID_NHS[1])).json()["id"]
    url = f"/api/patients/{second}"
    taken = await client.patch(url, json={"nhs_number": VALID_NHS[0]},
                               headers=clinic.staff.headers)
    assert taken.status_code == 409
    same = await client.patch(f"/api/patients/{first}", json={"nhs_number": VALID_NHS[0]},
                              headers=clinic.staff.headers)
    assert same.status_code == 200
    bad = await client.patch(url, json={"nhs_number": "1234567890"},
                             headers=clinic.staff.headers)
    assert bad.status_code == 422
    assert (await client.patch(url, json={"nope": 1},
                               headers=clinic.staff.headers)).status_code == 422
    assert (await client.patch("/api/patients/nobody", json={},
                               headers=clinic.admin.headers)).status_code == 404
    assert (await client.patch(url, json={"gender": "male"},
                               headers=clinic.outsider.headers)).status_code == 404


async def test_demographics(app: FastAPI, client: httpx.AsyncClient, clinic: Clinic) -> None:
    pid = (await create(client, clinic.staff)).json()["id"]
    url = f"/api/patients/{pid}/demographics"
    got = await client.get(url, headers=clinic.staff.headers)
    assert got.status_code == 200
    assert got.json()["patient_id"] == pid
    assert got.json()["data"]["id"] == pid
    telecom = [{"system": "phone", "value": "0113 496 0000"}]
    put = await client.put(url, json={"telecom": telecom, "gender": "other"},
                           headers=clinic.staff.headers)
    assert put.status_code == 200
    body = put.json()
    assert body["updated"] is True
    assert body["patient_id"] == pid
    assert body["data"]["telecom"] == telecom
    assert body["data"]["gender"] == "other"
    assert body["data"]["name"][0]["family"] == "Lovelace"
    unknown_field = await client.put(url, json={"identifier": []}, headers=clinic.staff.headers)
    assert unknown_field.status_code == 422
    invalid = await client.put(url, json={"gender": 12}, headers=clinic.staff.headers)
    assert invalid.status_code == 422
    assert (await client.put(url, json={"gender": "male"},
                             headers=clinic.outsider.headers)).status_code == 404
    actions = [a for a, p, _ in await audit_actions(app) if p == pid]
    assert "patient.demographics_read" in actions
    assert "patient.demographics_update" in actions


async def test_verify(client: httpx.AsyncClient, clinic: Clinic) -> None:
    pid = (await create(client, clinic.staff)).json()["id"]
    ok = await client.post("/api/patients/verify", params={"patient_id": pid},
                           headers=clinic.staff.headers)
    assert ok.status_code == 200
    assert ok.json() == {"patient_id": pid, "status": "ready"}
    for who, target in ((clinic.admin, "nobody"), (clinic.outsider, pid)):
        missing = await client.post("/api/patients/verify", params={"patient_id": target},
                                    headers=who.headers)
        assert missing.status_code == 404
    assert (await client.post("/api/patients/verify",
                              headers=clinic.staff.headers)).status_code == 422


async def test_activation(app: FastAPI, client: httpx.AsyncClient, clinic: Clinic) -> None:
    pid = (await create(client, clinic.staff)).json()["id"]
    meta = await client.get(f"/api/patients/{pid}/metadata", headers=clinic.staff.headers)
    assert meta.json() == {"patient_id": pid, "is_active": True}
    off = await client.post(f"/api/patients/{pid}/deactivate", headers=clinic.admin.headers)
    assert off.status_code == 200
    assert off.json() == {"patient_id": pid, "is_active": False,
                          "message": "Patient deactivated"}
    meta = await client.get(f"/api/patients/{pid}/metadata", headers=clinic.staff.headers)
    assert meta.json()["is_active"] is False
    assert (await client.post(f"/api/patients/{pid}/activate",
                              headers=clinic.staff.headers)).status_code == 403
    on = await client.post(f"/api/patients/{pid}/activate", headers=clinic.admin.headers)
    assert on.json() == {"patient_id": pid, "is_active": True, "message": "Patient activated"}
    assert (await client.post("/api/patients/nobody/deactivate",
                              headers=clinic.admin.headers)).status_code == 404
    actions = [a for a, p, _ in await audit_actions(app) if p == pid]
    assert actions.count("patient.metadata_read") == 2
    assert {"patient.activate", "patient.deactivate"} <= set(actions)


async def test_shared_organisations(app: FastAPI, client: httpx.AsyncClient,
                                    clinic: Clinic) -> None:
    pid = (await create(client, clinic.staff)).json()["id"]
    shared = await client.get(f"/api/patients/{pid}/shared-organisations",
                              headers=clinic.staff.headers)
    assert shared.status_code == 200
    assert shared.json() == {"organisations": [
        {"id": clinic.org_id, "name": "Riverside Practice", "type": "gp_practice"}]}
    by_admin = await client.get(f"/api/patients/{pid}/shared-organisations",
                                headers=clinic.admin.headers)
    assert by_admin.json() == {"organisations": []}


async def test_clinical_switch_and_auth(app: FastAPI, client: httpx.AsyncClient,
                                        clinic: Clinic) -> None:
    assert (await client.get("/api/patients")).status_code == 401
    assert (await client.get("/api/patients/x")).status_code == 401
    runtime_of(app).settings.clinical_services_enabled = False
    try:
        off = await client.get("/api/patients", headers=clinic.staff.headers)
        assert off.status_code == 503
        assert off.json() == {"detail": "Clinical services are disabled"}
    finally:
        runtime_of(app).settings.clinical_services_enabled = True


async def test_nhs_number_unique_in_the_database(app: FastAPI, client: httpx.AsyncClient,
                                                 clinic: Clinic) -> None:
    # A concurrent create that has claimed the number but not yet reached FHIR: the
    # database's unique index answers 409, and nothing is written to FHIR.
    runtime = runtime_of(app)
    async with runtime.session_factory() as db, db.begin():
        now = runtime.clock.now()
        db.add(PatientRecord(patient_id="in-flight", is_active=True, nhs_number=VALID_NHS[3],
                             created_at=now, updated_at=now, updated_by=None))
    raced = await create(client, clinic.staff, nhs_number=VALID_NHS[3])
    assert raced.status_code == 409
    assert raced.json() == {"detail": "A patient with this NHS number already exists"}
    async with runtime.session_factory() as db:
        page = await runtime.fhir.store(db).search("Patient", {
            "identifier": f"{NHS_NUMBER_SYSTEM}|{VALID_NHS[3]}"})
    assert page.resources == []
    pid = (await create(client, clinic.staff)).json()["id"]
    patched = await client.patch(f"/api/patients/{pid}", json={"nhs_number": VALID_NHS[3]},
                                 headers=clinic.staff.headers)
    assert patched.status_code == 409
    read = await client.get(f"/api/patients/{pid}", headers=clinic.staff.headers)
    assert NHS_NUMBER_SYSTEM not in identifiers(read.json())
