"""POST and GET /prescriptions/controlled: competency-gated; PrescriptionService checks the patient
and audits."""

from __future__ import annotations

from typing import Annotated

from fastapi import Depends, Query, Request

from quill.access.cbac import Competency
from quill.auth.deps import AuditorDep, CurrentCaller, require_competency
from quill.identity.caller import Caller
from quill.patients.router import PatientServiceDep
from quill.prescriptions.schemas import (
    ControlledPrescriptionIn,
    ControlledPrescriptionList,
    ControlledPrescriptionOut,
    ControlledPrescriptionSummary,
)
from quill.prescriptions.service import PrescriptionService
from quill.web.clinical import require_clinical_services
from quill.web.deps import DbSession
from quill.web.routing import api_router
from quill.web.wiring import platform_of

router = api_router(tags=["prescriptions"], dependencies=[Depends(require_clinical_services)])

# Also called directly by the web pages, so both ask the one gate.
require_prescriber = require_competency(Competency.PRESCRIBE_CONTROLLED_SCHEDULE_2)
Prescriber = Annotated[Caller, Depends(require_prescriber)]


async def get_service(request: Request, db: DbSession, caller: CurrentCaller,
                      auditor: AuditorDep, patients: PatientServiceDep
                      ) -> PrescriptionService:
    platform = platform_of(request)
    return PrescriptionService(caller=caller, auditor=auditor, clock=platform.clock,
                               fhir=platform.fhir.store(db), patients=patients)


PrescriptionServiceDep = Annotated[PrescriptionService, Depends(get_service)]


@router.post("/prescriptions/controlled", response_model=ControlledPrescriptionOut,
             status_code=201)
async def post_controlled(body: ControlledPrescriptionIn, caller: Prescriber,
                          service: PrescriptionServiceDep) -> ControlledPrescriptionOut:
    stored = await service.prescribe_controlled(body)
    return ControlledPrescriptionOut(
        status="success", prescription_id=str(stored["id"]), prescriber=caller.username,
        patient_id=body.patient_id, medication=body.medication, dose=body.dose,
        duration_days=body.duration_days)


# The newest prescriptions of one patient; a longer history is the FHIR facade's to page.
LIST_LIMIT = 100


@router.get("/prescriptions/controlled", response_model=ControlledPrescriptionList)
async def list_controlled(
    patient_id: Annotated[str, Query(min_length=1, max_length=64)], _prescriber: Prescriber,
    service: PrescriptionServiceDep,
) -> ControlledPrescriptionList:
    found = await service.list_controlled(patient_id, limit=LIST_LIMIT)
    return ControlledPrescriptionList(patient_id=patient_id, prescriptions=[
        ControlledPrescriptionSummary(**vars(item)) for item in found])
