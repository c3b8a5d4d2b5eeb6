"""Controlled prescriptions, stored as FHIR MedicationRequest resources."""

from __future__ import annotations

from quill.fhir.embedded import instant
from quill.fhir.port import Resource, reference
from quill.identity.caller import Caller
from quill.patients.service import PatientContext, visible_patient
from quill.prescriptions.schemas import ControlledPrescriptionIn

# Quill users are not FHIR Practitioners; the requester names the user by this identifier.
USER_ID_SYSTEM = "urn:quill:user-id"
UCUM = "http://unitsofmeasure.org"


def requester(caller: Caller) -> dict[str, object]:
    return {"identifier": {"system": USER_ID_SYSTEM, "value": str(caller.user_id)},
            "display": caller.user.full_name or caller.username}


def medication_request(ctx: PatientContext, body: ControlledPrescriptionIn) -> Resource:
    return {
        "resourceType": "MedicationRequest",
        "status": "active",
        "intent": "order",
        "category": [{"text": "Controlled drug (Schedule 2)"}],
        "medicationCodeableConcept": {"text": body.medication},
        "subject": {"reference": reference("Patient", body.patient_id)},
        "authoredOn": instant(ctx.clock.now()),
        "requester": requester(ctx.caller),
        "dosageInstruction": [{"text": body.dose}],
        "dispenseRequest": {"expectedSupplyDuration": {
            "value": body.duration_days, "unit": "days", "system": UCUM, "code": "d"}},
    }


async def prescribe_controlled(ctx: PatientContext, body: ControlledPrescriptionIn
                               ) -> Resource:
    """Patient access (404) first, then the MedicationRequest."""
    await visible_patient(ctx, body.patient_id)
    return await ctx.store.create(medication_request(ctx, body))
