"""GET /patients on the embedded store: visibility, paging, search, inactive patients."""

from __future__ import annotations

import httpx
from fastapi import FastAPI

from quill.access.models import ExternalGrant
from tests.helpers import logged_in, runtime_of
from tests.patients.conftest import VALID_NHS, Clinic
from tests.patients.support import put_patients


async def create(client: httpx.AsyncClient, headers: dict[str, str], given: str, family: str,
                 **extra: str) -> str:
    response = await client.post("/api/patients", headers=headers, json={
        "given_name": given, "family_name": family, **extra})
    assert response.status_code == 200, response.text
    return str(response.json()["id"])


async def listed(client: httpx.AsyncClient, headers: dict[str, str], **params: str | int
                 ) -> list[str]:
    response = await client.get("/api/patients", params=params, headers=headers)
    assert response.status_code == 200, response.text
    return [p["id"] for p in response.json()["patients"]]


async def test_staff_see_their_organisations_patients(client: httpx.AsyncClient,
                                                      clinic: Clinic) -> None:
    mine = {await create(client, clinic.staff.headers, "A", f"Mine{n}") for n in range(3)}
    theirs = await create(client, clinic.outsider.headers, "B", "Theirs")
    response = await client.get("/api/patients", headers=clinic.staff.headers)
    body = response.json()
    assert body["fhir_ready"] is True
    assert body["next_cursor"] is None
    assert {p["id"] for p in body["patients"]} == mine
    assert all(p["resourceType"] == "Patient" and p["is_active"] is True
               for p in body["patients"])
    assert set(await listed(client, clinic.outsider.headers)) == {theirs}
    assert set(await listed(client, clinic.admin.headers)) == mine | {theirs}
    assert set(await listed(client, clinic.admin.headers, scope="admin")) == mine | {theirs}
    refused = await client.get("/api/patients", params={"scope": "admin"},
                               headers=clinic.staff.headers)
    assert refused.status_code == 403


async def test_patient_and_external_users(app: FastAPI, client: httpx.AsyncClient,
                                          clinic: Clinic) -> None:
    first = await create(client, clinic.staff.headers, "A", "First")
    second = await create(client, clinic.staff.headers, "A", "Second")
    patient = await logged_in(app, "pat", fhir_patient_id=first)
    assert await listed(client, patient.headers) == [first]
    external = await logged_in(app, "ext", level="patient_advocate",
                               profession="patient_advocate")
    assert await listed(client, external.headers) == []
    runtime = runtime_of(app)
    async with runtime.session_factory() as db, db.begin():
        now = runtime.clock.now()
        db.add_all([
            ExternalGrant(user_id=external.user_id, patient_id=second, user_type="x",
                          granted_at=now, revoked_at=None),
            ExternalGrant(user_id=external.user_id, patient_id=first, user_type="x",
                          granted_at=now, revoked_at=now)])
    assert await listed(client, external.headers) == [second]


async def test_keyset_paging(client: httpx.AsyncClient, clinic: Clinic) -> None:
    ids = sorted([await create(client, clinic.staff.headers, "P", f"Page{n}")
                  for n in range(7)])
    seen: list[str] = []
    cursor: str | None = None
    pages = 0
    while True:
        params: dict[str, str | int] = {"limit": 3}
        if cursor:
            params["cursor"] = cursor
        body = (await client.get("/api/patients", params=params,
                                 headers=clinic.staff.headers)).json()
        seen += [p["id"] for p in body["patients"]]
        pages += 1
        cursor = body["next_cursor"]
        if cursor is None:
            break
    assert pages == 3
    assert sorted(seen) == ids
    assert len(seen) == len(set(seen))
    for bad in ("!!!", "eDp5"):
        response = await client.get("/api/patients", params={"cursor": bad},
                                    headers=clinic.staff.headers)
        assert response.status_code == 400
    assert (await client.get("/api/patients", params={"limit": 201},
                             headers=clinic.staff.headers)).status_code == 422


async def test_search_by_name_and_nhs_number(client: httpx.AsyncClient,
                                             clinic: Clinic) -> None:
    ada = await create(client, clinic.staff.headers, "Ada", "Lovelace",
                       nhs_number=VALID_NHS[0])
    alan = await create(client, clinic.staff.headers, "Alan", "Turing",
                        nhs_number=VALID_NHS[1])
    await create(client, clinic.outsider.headers, "Ada", "Elsewhere", nhs_number=VALID_NHS[2])
    headers = clinic.staff.headers
    assert await listed(client, headers, q="love") == [ada]
    assert await listed(client, headers, q="ADA") == [ada]
    assert set(await listed(client, headers, q="a")) == {ada, alan}
    assert await listed(client, headers, q=VALID_NHS[1]) == [alan]
    assert await listed(client, headers, q="943 476 5919") == [ada]
    assert await listed(client, headers, q=VALID_NHS[2]) == []
    assert await listed(client, headers, q="zzz") == []
    assert set(await listed(client, headers, q="  ")) == {ada, alan}
    # Text with nothing a name could start with (a lone combining accent) is no search,
    # not a server error.
    assert set(await listed(client, headers, q="\u0301")) == {ada, alan}


async def test_inactive_patients(client: httpx.AsyncClient, clinic: Clinic) -> None:
    kept = await create(client, clinic.staff.headers, "A", "Kept")
    gone = await create(client, clinic.staff.headers, "A", "Gone")
    await client.post(f"/api/patients/{gone}/deactivate", headers=clinic.admin.headers)
    assert await listed(client, clinic.staff.headers) == [kept]
    assert await listed(client, clinic.staff.headers, include_inactive="true") == [kept]
    assert await listed(client, clinic.admin.headers) == [kept]
    everyone = (await client.get("/api/patients", params={"include_inactive": "true"},
                                 headers=clinic.admin.headers)).json()["patients"]
    assert {p["id"]: p["is_active"] for p in everyone} == {kept: True, gone: False}


async def test_memberships_without_a_fhir_patient_are_skipped(
    app: FastAPI, client: httpx.AsyncClient, clinic: Clinic
) -> None:
    made = await create(client, clinic.staff.headers, "A", "Real")
    await put_patients(app, "elsewhere")
    assert await listed(client, clinic.staff.headers) == [made]
