"""Controlled prescriptions, stored as FHIR MedicationRequest resources."""

from __future__ import annotations

from dataclasses import dataclass
from datetime import datetime

from quill.audit.service import Auditor
from quill.clock import Clock
from quill.fhir.port import FhirStore, Resource, fhir_instant, reference
from quill.identity.caller import Caller
from quill.patients.service import PatientService
from quill.prescriptions.schemas import ControlledPrescriptionIn

# Quill users are not FHIR Practitioners; the requester names the user by this identifier.
USER_ID_SYSTEM = "urn:quill:user-id"
UCUM = "http://unitsofmeasure.org"


def requester(caller: Caller) -> dict[str, object]:
    return {"identifier": {"system": USER_ID_SYSTEM, "value": str(caller.user_id)},
            "display": caller.user.full_name or caller.username}


def medication_request(caller: Caller, authored: datetime, body: ControlledPrescriptionIn
                       ) -> Resource:
    return {
        "resourceType": "MedicationRequest",
        "status": "active",
        "intent": "order",
        "category": [{"text": "Controlled drug (Schedule 2)"}],
        "medicationCodeableConcept": {"text": body.medication},
        "subject": {"reference": reference("Patient", body.patient_id)},
        "authoredOn": fhir_instant(authored),
        "requester": requester(caller),
        "dosageInstruction": [{"text": body.dose}],
        "dispenseRequest": {"expectedSupplyDuration": {
            "value": body.duration_days, "unit": "days", "system": UCUM, "code": "d"}},
    }


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
