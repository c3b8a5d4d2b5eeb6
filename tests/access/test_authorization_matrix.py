"""Authorization matrix: every route family here, every caller kind, the contract's status.

One table; add a row per new route (patients, letters, messaging...). Each caller kind gets
its own world (own organisations, users and patients), so one cell's mutation never changes
another cell's answer.
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass
from typing import Any

import httpx
import pytest
from fastapi import FastAPI

from tests.access.world import KINDS, build_world

Ids = dict[str, Any]
Body = Callable[[Ids], dict[str, Any]]


@dataclass(frozen=True)
class Row:
    method: str
    path: str  # str.format fields: see World.ids (org_a, patient_a, each kind's user id...)
    expected: tuple[int, int, int, int, int, int, int]  # in KINDS order
    body: Body | None = None

    @property
    def name(self) -> str:
        return f"{self.method} {self.path}"


ADMIN_ONLY = (401, 403, 403, 403, 403, 200, 200)
SIGNED_IN = (401, 200, 200, 200, 200, 200, 200)
ORG = "/api/organizations/{org_a}"
PA = "/api/patients/{patient_a}"
PB = "/api/patients/{patient_b}"
SEE_A = (401, 200, 404, 200, 404, 200, 200)
SEE_B = (401, 404, 200, 404, 200, 200, 200)
WRITE_A = (401, 403, 403, 200, 404, 200, 200)
STAFF_WRITE = (401, 403, 403, 200, 200, 200, 200)
MANAGE_A = (401, 200, 404, 403, 404, 200, 200)


def _prescription(patient_id: str) -> dict[str, Any]:
    return {"patient_id": patient_id, "medication": "Morphine sulfate 10 mg tablets",
            "dose": "10 mg every 4 hours when required", "duration_days": 7}


ROWS = [
    # Users (admin)
    Row("GET", "/api/users", (401, 403, 403, 200, 200, 200, 200)),
    Row("GET", "/api/users?patient_id={patient_a}", (401, 403, 403, 200, 404, 200, 200)),
    Row("GET", "/api/users?permission_level=staff", ADMIN_ONLY),
    Row("POST", "/api/users", ADMIN_ONLY, lambda ids: {
        "name": "New Nurse", "username": f"{ids['prefix']}new-nurse",
        "email": f"{ids['prefix']}new-nurse@example.org",
        "password": "long enough password", "base_profession": "registered_nurse",
        "system_permissions": "staff"}),
    Row("POST", "/api/users", (401, 403, 403, 403, 403, 403, 200), lambda ids: {
        "name": "New Admin", "email": f"{ids['prefix']}new-admin@example.org",
        "password": "long enough password", "system_permissions": "admin"}),
    Row("GET", "/api/users?q={prefix}", (401, 403, 403, 200, 200, 200, 200)),
    Row("GET", "/api/users/{staff_same}", ADMIN_ONLY),
    Row("PATCH", "/api/users/{staff_same}", ADMIN_ONLY, lambda ids: {"name": "Renamed"}),
    Row("PATCH", "/api/users/{superadmin}", (401, 403, 403, 403, 403, 403, 200),
        lambda ids: {"name": "Renamed"}),
    Row("PATCH", "/api/users/{staff_same}", (401, 403, 403, 403, 403, 403, 200),
        lambda ids: {"system_permissions": "admin"}),
    Row("PATCH", "/api/users/{external}/link-patient", ADMIN_ONLY,
        lambda ids: {"fhir_patient_id": ids["patient_loose"]}),
    # CBAC
    Row("GET", "/api/cbac/my-competencies", SIGNED_IN),
    Row("GET", "/api/cbac/catalogue", SIGNED_IN),
    Row("PATCH", "/api/cbac/my-competencies", ADMIN_ONLY, lambda ids: {
        "user_id": ids["staff_same"], "additional_competencies": ["interpret_ecg"]}),
    # Organisations
    Row("GET", "/api/organizations", ADMIN_ONLY),
    Row("GET", ORG, (401, 403, 403, 200, 403, 200, 200)),
    Row("POST", "/api/organizations", ADMIN_ONLY,
        lambda ids: {"name": "New Ward", "type": "hospital_team"}),
    Row("PUT", ORG, ADMIN_ONLY, lambda ids: {"location": "Leeds"}),
    Row("POST", ORG + "/staff", ADMIN_ONLY, lambda ids: {"user_id": ids["staff_other"]}),
    Row("DELETE", ORG + "/staff/{staff_same}", ADMIN_ONLY),
    Row("POST", ORG + "/patients", ADMIN_ONLY,
        lambda ids: {"patient_id": ids["patient_loose"]}),
    Row("DELETE", ORG + "/patients/{patient_a}", ADMIN_ONLY),
    Row("GET", ORG + "/features", ADMIN_ONLY),
    Row("PUT", ORG + "/features/messaging", ADMIN_ONLY, lambda ids: {"enabled": True}),
    # Audit trail
    Row("GET", "/api/audit/state", ADMIN_ONLY),
    Row("GET", "/api/audit/entries?patient_id={patient_a}", ADMIN_ONLY),
    # Patients. Patient A: org A, linked to the patient user, revoked grant for the external
    # user. Patient B: org B, active grant for the external user. Loose: no organisation.
    Row("POST", "/api/patients", STAFF_WRITE,
        lambda ids: {"given_name": "New", "family_name": "Patient"}),
    Row("GET", "/api/patients", SIGNED_IN),
    Row("GET", PA, SEE_A),
    Row("GET", PB, SEE_B),
    Row("GET", "/api/patients/{patient_loose}", (401, 404, 404, 404, 404, 200, 200)),
    Row("PATCH", PA, WRITE_A, lambda ids: {"gender": "female"}),
    Row("PATCH", PB, (401, 403, 403, 404, 200, 200, 200), lambda ids: {"gender": "female"}),
    Row("GET", PA + "/demographics", SEE_A),
    Row("GET", PB + "/demographics", SEE_B),
    Row("PUT", PA + "/demographics", WRITE_A, lambda ids: {"gender": "male"}),
    Row("POST", "/api/patients/verify?patient_id={patient_a}", WRITE_A),
    Row("GET", PA + "/metadata", SEE_A),
    Row("GET", PB + "/metadata", SEE_B),
    Row("POST", PA + "/deactivate", ADMIN_ONLY),
    Row("POST", PA + "/activate", ADMIN_ONLY),
    Row("GET", PA + "/shared-organisations", SEE_A),
    Row("GET", PB + "/shared-organisations", SEE_B),
    Row("GET", PA + "/access-log", (401, 200, 404, 403, 404, 200, 200)),
    Row("GET", PB + "/access-log", (401, 404, 403, 404, 403, 200, 200)),
    Row("GET", PA + "/letters", SEE_A),
    Row("GET", PB + "/letters", SEE_B),
    Row("POST", PA + "/letters", WRITE_A, lambda ids: {"title": "T", "body": "B"}),
    # Prescriptions: only the consultant (staff_other) holds the Schedule 2 competency.
    Row("POST", "/api/prescriptions/controlled", (401, 403, 403, 403, 404, 403, 403),
        lambda ids: _prescription(ids["patient_a"])),
    Row("POST", "/api/prescriptions/controlled", (401, 403, 403, 403, 201, 403, 403),
        lambda ids: _prescription(ids["patient_b"])),
    # External access: the patient themself or an admin.
    Row("POST", PA + "/invite-external", MANAGE_A, lambda ids: {
        "email": f"{ids['prefix']}relative@example.org", "user_type": "patient_advocate"}),
    Row("POST", PB + "/invite-external", (401, 404, 403, 404, 403, 200, 200), lambda ids: {
        "email": f"{ids['prefix']}relative@example.org", "user_type": "external_hcp"}),
    Row("GET", PA + "/external-access", MANAGE_A),
    Row("GET", PB + "/external-access", (401, 404, 403, 404, 403, 200, 200)),
    Row("DELETE", PB + "/external-access/{external}", (401, 404, 403, 404, 403, 200, 200)),
    # The external user's grant for patient A is revoked already: nothing to revoke.
    Row("DELETE", PA + "/external-access/{external}", (401, 404, 404, 403, 404, 404, 404)),
    Row("POST", "/api/accept-invite", (400,) * 7, lambda ids: {"token": "not-a-real-token"}),
]


@pytest.mark.parametrize("row", ROWS, ids=[f"{r.name}{'+body' if r.body else ''}" for r in ROWS])
async def test_authorization_matrix(app: FastAPI, row: Row) -> None:
    wrong: list[str] = []
    async with httpx.AsyncClient(transport=httpx.ASGITransport(app=app),
                                 base_url="http://testserver") as http:
        for kind, expected in zip(KINDS, row.expected, strict=True):
            world = await build_world(app, prefix=f"{kind.replace('_', '-')}-")
            ids = world.ids
            response = await http.request(
                row.method, row.path.format(**ids), headers=world.headers[kind],
                json=row.body(ids) if row.body else None)
            if response.status_code != expected:
                wrong.append(f"{kind}: {response.status_code} != {expected} {response.text}")
    assert not wrong, "\n".join(wrong)


@pytest.mark.parametrize("kind", KINDS[1:])
async def test_patient_list_shows_only_visible_patients(app: FastAPI, kind: str) -> None:
    world = await build_world(app, prefix=f"list-{kind.replace('_', '-')}-")
    async with httpx.AsyncClient(transport=httpx.ASGITransport(app=app),
                                 base_url="http://testserver") as http:
        listed = await http.get("/api/patients", headers=world.headers[kind])
        assert listed.status_code == 200
        ids = {p["id"] for p in listed.json()["patients"]}
        expected: set[str] = set()
        for pid in (world.patient_a, world.patient_b, world.patient_loose):
            read = await http.get(f"/api/patients/{pid}", headers=world.headers[kind])
            if read.status_code == 200:
                expected.add(pid)
    mine = {world.patient_a, world.patient_b, world.patient_loose}
    assert ids & mine == expected
