"""GET /patients/{id}/access-log: who touched the record, newest first."""

from __future__ import annotations

import httpx
from fastapi import FastAPI

from tests.helpers import logged_in
from tests.patients.conftest import Clinic


async def _patient(client: httpx.AsyncClient, clinic: Clinic) -> str:
    made = await client.post("/api/patients", headers=clinic.staff.headers,
                             json={"given_name": "Log", "family_name": "Subject"})
    return str(made.json()["id"])


async def test_log_lists_reads_and_writes_newest_first(
    app: FastAPI, client: httpx.AsyncClient, clinic: Clinic
) -> None:
    pid = await _patient(client, clinic)
    await client.get(f"/api/patients/{pid}", headers=clinic.staff.headers)
    await client.patch(f"/api/patients/{pid}", json={"gender": "male"},
                       headers=clinic.staff.headers)
    await client.post(f"/api/patients/{pid}/letters", json={"title": "T", "body": "B"},
                      headers=clinic.staff.headers)
    log = await client.get(f"/api/patients/{pid}/access-log", headers=clinic.admin.headers)
    assert log.status_code == 200
    body = log.json()
    assert body["next_cursor"] is None
    actions = [e["action"] for e in body["entries"]]
    assert actions == ["letter.create", "patient.update", "patient.read", "patient.create"]
    newest = body["entries"][1]
    assert newest["user_id"] == clinic.staff.user_id
    assert newest["username"] == "dr-who"
    assert newest["resource"] == f"Patient/{pid}"
    assert newest["at"]
    again = await client.get(f"/api/patients/{pid}/access-log", headers=clinic.admin.headers)
    assert again.json()["entries"][0]["action"] == "patient.access_log_read"
    assert again.json()["entries"][0]["username"] == "the-admin"


async def test_log_pages(client: httpx.AsyncClient, clinic: Clinic) -> None:
    pid = await _patient(client, clinic)
    for _ in range(4):
        await client.get(f"/api/patients/{pid}", headers=clinic.staff.headers)
    seen: list[str] = []
    cursor: str | None = None
    while True:
        params: dict[str, str | int] = {"limit": 2}
        if cursor:
            params["cursor"] = cursor
        body = (await client.get(f"/api/patients/{pid}/access-log", params=params,
                                 headers=clinic.admin.headers)).json()
        seen += [e["action"] for e in body["entries"]]
        cursor = body["next_cursor"]
        if cursor is None:
            break
    assert seen[-1] == "patient.create"
    assert seen.count("patient.read") == 4
    bad = await client.get(f"/api/patients/{pid}/access-log", params={"cursor": "zz!"},
                           headers=clinic.admin.headers)
    assert bad.status_code == 400


async def test_who_may_read_the_log(app: FastAPI, client: httpx.AsyncClient,
                                    clinic: Clinic) -> None:
    pid = await _patient(client, clinic)
    url = f"/api/patients/{pid}/access-log"
    patient = await logged_in(app, "log-patient", fhir_patient_id=pid)
    own = await client.get(url, headers=patient.headers)
    assert own.status_code == 200
    # Staff who can see the patient: 403 (the log is about colleagues, not the patient).
    assert (await client.get(url, headers=clinic.staff.headers)).status_code == 403
    # Staff who cannot see the patient: 404, as for every other patient route.
    hidden = await client.get(url, headers=clinic.outsider.headers)
    assert hidden.status_code == 404
    assert (await client.get("/api/patients/nobody/access-log",
                             headers=clinic.admin.headers)).status_code == 404
    assert (await client.get(url)).status_code == 401
