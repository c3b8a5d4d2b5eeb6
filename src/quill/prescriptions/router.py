"""POST /prescriptions/controlled: competency-gated, patient-checked, audited."""

from __future__ import annotations

from typing import Annotated

from fastapi import Depends

from quill.access.cbac import Competency
from quill.auth.deps import AuditorDep, require_competency
from quill.identity.caller import Caller
from quill.patients.service import PatientContext
from quill.prescriptions.schemas import ControlledPrescriptionIn, ControlledPrescriptionOut
from quill.prescriptions.service import prescribe_controlled
from quill.web.clinical import require_clinical_services
from quill.web.deps import DbSession, RuntimeDep
from quill.web.routing import api_router

router = api_router(tags=["prescriptions"], dependencies=[Depends(require_clinical_services)])

Prescriber = Annotated[Caller, Depends(require_competency(
    Competency.PRESCRIBE_CONTROLLED_SCHEDULE_2))]


@router.post("/prescriptions/controlled", response_model=ControlledPrescriptionOut,
             status_code=201)
async def post_controlled(body: ControlledPrescriptionIn, caller: Prescriber, db: DbSession,
                          runtime: RuntimeDep, auditor: AuditorDep
                          ) -> ControlledPrescriptionOut:
    ctx = PatientContext(db, runtime.fhir.store(db), caller, runtime.clock,
                         runtime.settings.mrn_system, runtime.ids)
    stored = await prescribe_controlled(ctx, body)
    rid = str(stored["id"])
    await auditor.record("prescription.create", "MedicationRequest", rid,
                         patient_id=body.patient_id)
    return ControlledPrescriptionOut(
        status="success", prescription_id=rid, prescriber=caller.username,
        patient_id=body.patient_id, medication=body.medication, dose=body.dose,
        duration_days=body.duration_days)
