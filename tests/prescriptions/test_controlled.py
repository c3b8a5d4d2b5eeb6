"""POST /prescriptions/controlled: competency gate, patient access, FHIR MedicationRequest."""

from __future__ import annotations

from typing import Any

import httpx
from fastapi import FastAPI

from quill.prescriptions.service import USER_ID_SYSTEM
from tests.audit_rows import audit_actions
from tests.helpers import logged_in, runtime_of
from tests.patients.conftest import Clinic

URL = "/api/prescriptions/controlled"


def order(patient_id: str, **changes: Any) -> dict[str, Any]:
    return {"patient_id": patient_id, "medication": "Oxycodone 5 mg capsules",
            "dose": "5 mg every 6 hours", "duration_days": 5, **changes}


async def _patient(client: httpx.AsyncClient, clinic: Clinic) -> str:
    made = await client.post("/api/patients", headers=clinic.staff.headers,
                             json={"given_name": "Rx", "family_name": "Patient"})
    return str(made.json()["id"])


async def test_prescribing_stores_a_medication_request(
    app: FastAPI, client: httpx.AsyncClient, clinic: Clinic
) -> None:
    pid = await _patient(client, clinic)
    response = await client.post(URL, json=order(pid), headers=clinic.staff.headers)
    assert response.status_code == 201
    body = response.json()
    rid = body.pop("prescription_id")
    assert body == {"status": "success", "prescriber": "dr-who", "patient_id": pid,
                    "medication": "Oxycodone 5 mg capsules", "dose": "5 mg every 6 hours",
                    "duration_days": 5}
    runtime = runtime_of(app)
    async with runtime.session_factory() as db:
        stored = await runtime.fhir.store(db).read("MedicationRequest", rid)
    assert stored["subject"] == {"reference": f"Patient/{pid}"}
    assert stored["requester"]["identifier"] == {"system": USER_ID_SYSTEM,
                                                 "value": str(clinic.staff.user_id)}
    assert stored["requester"]["display"] == "Dr-Who"
    assert stored["medicationCodeableConcept"] == {"text": "Oxycodone 5 mg capsules"}
    assert stored["dosageInstruction"] == [{"text": "5 mg every 6 hours"}]
    supply = stored["dispenseRequest"]["expectedSupplyDuration"]
    assert (supply["value"], supply["code"]) == (5, "d")
    assert ("prescription.create", pid, clinic.staff.user_id) in await audit_actions(app)


async def test_prescribing_errors(app: FastAPI, client: httpx.AsyncClient,
                                  clinic: Clinic) -> None:
    pid = await _patient(client, clinic)
    nurse = await logged_in(app, "nurse", level="staff", profession="registered_nurse")
    missing = await client.post(URL, json=order(pid), headers=nurse.headers)
    assert missing.status_code == 403
    assert missing.json() == {"detail": "Missing competency: prescribe_controlled_schedule_2"}
    hidden = await client.post(URL, json=order(pid), headers=clinic.outsider.headers)
    assert hidden.status_code == 404
    unknown = await client.post(URL, json=order("nobody"), headers=clinic.staff.headers)
    assert unknown.status_code == 404
    for bad in (order(pid, duration_days=0), order(pid, medication=""),
                order(pid, extra=1), order("bad id!")):
        assert (await client.post(URL, json=bad, headers=clinic.staff.headers)
                ).status_code == 422
    assert (await client.post(URL, json=order(pid))).status_code == 401


async def test_listing_a_patients_controlled_prescriptions(
    app: FastAPI, client: httpx.AsyncClient, clinic: Clinic
) -> None:
    pid = await _patient(client, clinic)
    other = await _patient(client, clinic)
    for medication in ("Morphine sulfate 10 mg tablets", "Oxycodone 5 mg capsules"):
        made = await client.post(URL, json=order(pid, medication=medication),
                                 headers=clinic.staff.headers)
        assert made.status_code == 201
    await client.post(URL, json=order(other), headers=clinic.staff.headers)
    listed = await client.get(URL, params={"patient_id": pid}, headers=clinic.staff.headers)
    assert listed.status_code == 200
    items = listed.json()["prescriptions"]
    assert [i["medication"] for i in items] == ["Oxycodone 5 mg capsules",
                                                "Morphine sulfate 10 mg tablets"]
    assert {(i["dose"], i["duration_days"], i["prescriber"]) for i in items} == {
        ("5 mg every 6 hours", 5, "Dr-Who")}
    assert all(i["authored_on"] for i in items)
    assert ("prescription.list", pid, clinic.staff.user_id) in await audit_actions(app)
    nurse = await logged_in(app, "list-nurse", level="staff", profession="registered_nurse")
    refused = await client.get(URL, params={"patient_id": pid}, headers=nurse.headers)
    assert refused.status_code == 403
    hidden = await client.get(URL, params={"patient_id": pid}, headers=clinic.outsider.headers)
    assert hidden.status_code == 404
