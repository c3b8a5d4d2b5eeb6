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
    Row("GET", "/api/users/{staff_same}", ADMIN_ONLY),
    Row("PATCH", "/api/users/{staff_same}", ADMIN_ONLY, lambda ids: {"name": "Renamed"}),
    Row("PATCH", "/api/users/{superadmin}", (401, 403, 403, 403, 403, 403, 200),
        lambda ids: {"name": "Renamed"}),
    Row("PATCH", "/api/users/{staff_same}", (401, 403, 403, 403, 403, 403, 200),
        lambda ids: {"system_permissions": "admin"}),
    Row("PATCH", "/api/users/{external}/link-patient", ADMIN_ONLY,
        lambda ids: {"fhir_patient_id": f"{ids['prefix']}pat-new"}),
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
        lambda ids: {"patient_id": f"{ids['prefix']}pat-new"}),
    Row("DELETE", ORG + "/patients/{patient_a}", ADMIN_ONLY),
    Row("GET", ORG + "/features", ADMIN_ONLY),
    Row("PUT", ORG + "/features/messaging", ADMIN_ONLY, lambda ids: {"enabled": True}),
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
