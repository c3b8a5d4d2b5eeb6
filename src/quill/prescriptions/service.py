"""Controlled prescriptions, stored as FHIR MedicationRequest resources."""

from __future__ import annotations

from dataclasses import dataclass
from datetime import datetime
from typing import Any

from quill.audit.service import Auditor
from quill.clock import Clock
from quill.fhir.port import FhirStore, Resource, fhir_instant, reference
from quill.identity.caller import Caller
from quill.patients.service import PatientService
from quill.prescriptions.schemas import ControlledPrescriptionIn

# Quill users are not FHIR Practitioners; the requester names the user by this identifier.
USER_ID_SYSTEM = "urn:quill:user-id"
UCUM = "http://unitsofmeasure.org"
CONTROLLED_CATEGORY = "Controlled drug (Schedule 2)"


def requester(caller: Caller) -> dict[str, object]:
    return {"identifier": {"system": USER_ID_SYSTEM, "value": str(caller.user_id)},
            "display": caller.user.full_name or caller.username}


def medication_request(caller: Caller, authored: datetime, body: ControlledPrescriptionIn
                       ) -> Resource:
    return {
        "resourceType": "MedicationRequest",
        "status": "active",
        "intent": "order",
        "category": [{"text": CONTROLLED_CATEGORY}],
        "medicationCodeableConcept": {"text": body.medication},
        "subject": {"reference": reference("Patient", body.patient_id)},
        "authoredOn": fhir_instant(authored),
        "requester": requester(caller),
        "dosageInstruction": [{"text": body.dose}],
        "dispenseRequest": {"expectedSupplyDuration": {
            "value": body.duration_days, "unit": "days", "system": UCUM, "code": "d"}},
    }


def _text(value: Any) -> str:
    return str(value["text"]) if isinstance(value, dict) and "text" in value else ""


def _instant(value: Any) -> datetime | None:
    try:
        return datetime.fromisoformat(value) if isinstance(value, str) else None
    except ValueError:
        return None


@dataclass(frozen=True)
class PrescriptionSummary:
    """What a list shows of one stored MedicationRequest (tolerant of ones written
    elsewhere, through the FHIR facade)."""

    prescription_id: str
    medication: str
    dose: str
    duration_days: int | None
    prescriber: str
    authored_on: datetime | None

    @classmethod
    def of(cls, resource: Resource) -> PrescriptionSummary:
        dosage = resource.get("dosageInstruction") or [{}]
        supply = (resource.get("dispenseRequest") or {}).get("expectedSupplyDuration") or {}
        days = supply.get("value")
        return cls(
            prescription_id=str(resource["id"]),
            medication=_text(resource.get("medicationCodeableConcept")),
            dose=_text(dosage[0]),
            duration_days=days if isinstance(days, int) else None,
            prescriber=str((resource.get("requester") or {}).get("display") or ""),
            authored_on=_instant(resource.get("authoredOn")))


@dataclass(frozen=True)
class PrescriptionService:
    caller: Caller
    auditor: Auditor
    clock: Clock
    fhir: FhirStore
    patients: PatientService

    async def prescribe_controlled(self, body: ControlledPrescriptionIn) -> Resource:
        """Patient access (404) first, then the MedicationRequest."""
        await self.patients.visible_patient(body.patient_id)
        stored = await self.fhir.create(medication_request(self.caller, self.clock.now(), body))
        await self.auditor.record("prescription.create", "MedicationRequest",
                                  str(stored["id"]), patient_id=body.patient_id)
        return stored

    async def list_controlled(self, patient_id: str, *, limit: int
                              ) -> list[PrescriptionSummary]:
        """The patient's controlled prescriptions, newest first: patient access (404)
        first, one search (the category is not a search parameter, so it is checked on
        the page of results), audited as one listing."""
        await self.patients.visible_patient(patient_id)
        found = await self.fhir.search(
            "MedicationRequest", {"patient": patient_id, "_sort": "-_lastUpdated"},
            count=limit, total=False)
        await self.auditor.record("prescription.list", "MedicationRequest", None,
                                  patient_id=patient_id)
        return [PrescriptionSummary.of(resource) for resource in found.resources
                if _text((resource.get("category") or [{}])[0]) == CONTROLLED_CATEGORY]
