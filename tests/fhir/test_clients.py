"""Third-party clients over a real socket: fhirclient (SMART, synchronous, run in a worker
thread so the server keeps this event loop) and fhirpy (async)."""

from __future__ import annotations

import asyncio
from typing import Any

import pytest
import requests
from fhirclient import client as smart_client
from fhirclient.models.medicationrequest import MedicationRequest
from fhirclient.models.patient import Patient
from fhirclient.server import FHIRNotFoundException
from fhirpy import AsyncFHIRClient
from fhirpy.base.exceptions import OperationOutcome, ResourceNotFound

from tests.fhir.conftest import SERVICE_TOKEN


def _smart(base: str) -> Any:
    return smart_client.FHIRClient(settings={"app_id": "quill-tests", "api_base": base})


def _prepare_without_credentials(base: str) -> tuple[bool, list[str]]:
    smart = _smart(base)
    ready = smart.prepare()
    statement = smart.server.capabilityStatement
    return ready, [r.type for r in statement.rest[0].resource]


async def test_fhirclient_prepare_reads_metadata_without_credentials(facade_url: str) -> None:
    ready, types = await asyncio.to_thread(_prepare_without_credentials, facade_url + "/")
    assert ready
    assert set(types) == {"Patient", "Practitioner", "Organization", "Communication",
                          "MedicationRequest"}


def _status(exc: requests.HTTPError | FHIRNotFoundException) -> int:
    response = exc.response
    assert response is not None
    status: int = response.status_code
    return status


def _fhirclient_session(base: str) -> dict[str, Any]:
    smart = _smart(base)
    assert smart.prepare()
    server = smart.server
    server.session.headers["Authorization"] = f"Bearer {SERVICE_TOKEN}"
    made = Patient({"resourceType": "Patient", "gender": "female",
                    "name": [{"family": "Smart"}]}).create(server)
    patient = Patient.read(made["id"], server)
    found = list(Patient.where(struct={"family": "smart"}).perform_resources_iter(server))
    outcome: dict[str, Any] = {"read": patient.name[0].family,
                               "found": [p.id for p in found], "id": made["id"]}
    bogus = MedicationRequest({"resourceType": "MedicationRequest", "status": "bogus",
                               "intent": "order", "subject": {"reference": "Patient/x"},
                               "medicationCodeableConcept": {"text": "x"}})
    try:
        bogus.create(server)
    except (requests.HTTPError, FHIRNotFoundException) as exc:
        outcome["bogus"] = _status(exc)
    patient.delete()
    try:
        Patient.read(made["id"], server)
    except (requests.HTTPError, FHIRNotFoundException) as exc:
        outcome["deleted"] = _status(exc)
    try:
        Patient.read("never-was", server)
    except (requests.HTTPError, FHIRNotFoundException) as exc:
        outcome["never"] = _status(exc)
    return outcome


async def test_fhirclient_crud_validation_and_gone(facade_url: str) -> None:
    outcome = await asyncio.to_thread(_fhirclient_session, facade_url + "/")
    assert outcome["read"] == "Smart"
    assert outcome["found"] == [outcome["id"]]
    assert outcome["bogus"] == 422
    assert outcome["deleted"] == 410
    assert outcome["never"] == 404


async def test_fhirpy_patient_include_summary_and_unsupported(facade_url: str) -> None:
    client = AsyncFHIRClient(facade_url, authorization=f"Bearer {SERVICE_TOKEN}")
    patient = client.resource("Patient", name=[{"family": "Fhirpy"}], gender="male")
    await patient.save()
    for _ in range(2):
        await client.resource("MedicationRequest", status="active", intent="order",
                              medicationCodeableConcept={"text": "x"},
                              subject={"reference": f"Patient/{patient.id}"}).save()
    search = client.resources("MedicationRequest").search(patient=patient.id)
    assert await search.count() == 2
    bundle = await search.include("MedicationRequest", "subject").fetch_raw()
    modes = sorted(e["search"]["mode"] for e in bundle["entry"])
    assert modes == ["include", "match", "match"]
    counted = await search.search(_summary="count").fetch_raw()
    assert counted["total"] == 2
    assert not counted.get("entry")
    with pytest.raises(OperationOutcome) as not_supported:
        await client.resources("Patient").execute("$validate", data={"resourceType": "Patient"})
    assert "not-supported" in str(not_supported.value)
    await patient.delete()  # type: ignore[no-untyped-call]
    with pytest.raises(ResourceNotFound) as gone:
        await client.reference("Patient", patient.id).to_resource()
    assert "deleted" in str(gone.value)
