"""Patients routes: HTTP only. Clinical; the rules, access checks and audit live in
PatientService."""

from __future__ import annotations

from typing import Annotated, Any, Literal

from fastapi import Body, Depends, Header, Path, Query, Request, Response

from quill.auth.deps import AuditorDep, CurrentCaller, require_admin, require_staff
from quill.db.keyset import DEFAULT_LIMIT
from quill.fhir.port import Resource, etag, version_of
from quill.patients.listing import ListRequest
from quill.patients.schemas import (
    AccessLog,
    AccessLogEntry,
    Activation,
    Demographics,
    DemographicsUpdated,
    PatientIn,
    PatientList,
    PatientMetadata,
    PatientPatch,
    SharedOrganisation,
    SharedOrganisations,
    Verified,
)
from quill.patients.service import PatientService
from quill.web.clinical import require_clinical_services
from quill.web.deps import DbSession
from quill.web.keyset import CursorQuery, LimitQuery
from quill.web.routing import api_router
from quill.web.wiring import platform_of

router = api_router("/patients", tags=["patients"],
                   dependencies=[Depends(require_clinical_services)])

PatientId = Annotated[str, Path(min_length=1, max_length=64)]
IfMatch = Annotated[str | None, Header(alias="If-Match", max_length=100)]
# Gates that run before the service is built; the service reads the same caller.
STAFF = [Depends(require_staff)]
ADMIN = [Depends(require_admin)]


async def get_service(request: Request, db: DbSession, caller: CurrentCaller,
                      auditor: AuditorDep) -> PatientService:
    platform = platform_of(request)
    fhir = platform.fhir.store(db)
    return PatientService(db=db, caller=caller, auditor=auditor, clock=platform.clock,
                          ids=platform.ids, fhir=fhir,
                          lister=platform.fhir.patient_lister(db, fhir),
                          mrn_system=platform.settings.mrn_system)


PatientServiceDep = Annotated[PatientService, Depends(get_service)]


def _with_etag(response: Response, patient: Resource) -> Resource:
    version = version_of(patient)
    if version is not None:
        response.headers["ETag"] = etag(version)
    return patient


@router.post("", response_model=dict[str, Any], dependencies=STAFF)
async def create_patient(body: PatientIn, service: PatientServiceDep, response: Response
                         ) -> Resource:
    created = await service.create(body.fields(), body.patient_id)
    return _with_etag(response, created)


@router.get("", response_model=PatientList)
async def list_patients(
    service: PatientServiceDep,
    include_inactive: bool = False,
    scope: Annotated[Literal["admin"] | None, Query()] = None,
    limit: LimitQuery = DEFAULT_LIMIT,
    # Roomy: against an external server the cursor wraps that server's next-page link.
    cursor: Annotated[str | None, Query(max_length=4000)] = None,
    q: Annotated[str | None, Query(max_length=200)] = None,
) -> PatientList:
    page = await service.list_patients(ListRequest(
        limit=limit, cursor=cursor, q=q, include_inactive=include_inactive,
        admin_scope=scope == "admin"))
    patients = [{**p, "is_active": str(p["id"]) not in page.inactive} for p in page.patients]
    return PatientList(patients=patients, fhir_ready=page.fhir_ready,
                       next_cursor=page.next_cursor)


@router.post("/verify", response_model=Verified, dependencies=STAFF)
async def verify_patient(
    patient_id: Annotated[str, Query(min_length=1, max_length=64)],
    service: PatientServiceDep,
) -> Verified:
    await service.verify(patient_id)
    return Verified(patient_id=patient_id, status="ready")


@router.get("/{patient_id}", response_model=dict[str, Any])
async def read_patient(patient_id: PatientId, service: PatientServiceDep, response: Response
                       ) -> Resource:
    return _with_etag(response, await service.read(patient_id))


@router.patch("/{patient_id}", response_model=dict[str, Any], dependencies=STAFF)
async def patch_patient(patient_id: PatientId, body: PatientPatch, service: PatientServiceDep,
                        response: Response, if_match: IfMatch = None) -> Resource:
    updated = await service.patch(patient_id, body.fields(), if_match)
    return _with_etag(response, updated)


@router.get("/{patient_id}/demographics", response_model=Demographics)
async def get_demographics(patient_id: PatientId, service: PatientServiceDep
                           ) -> Demographics:
    return Demographics(patient_id=patient_id, data=await service.demographics(patient_id))


@router.put("/{patient_id}/demographics", response_model=DemographicsUpdated,
            dependencies=STAFF)
async def put_demographics(
    patient_id: PatientId, demographics: Annotated[dict[str, Any], Body()],
    service: PatientServiceDep,
) -> DemographicsUpdated:
    updated = await service.put_demographics(patient_id, demographics)
    return DemographicsUpdated(patient_id=patient_id, updated=True, data=updated)


@router.get("/{patient_id}/metadata", response_model=PatientMetadata)
async def get_metadata(patient_id: PatientId, service: PatientServiceDep) -> PatientMetadata:
    return PatientMetadata(patient_id=patient_id,
                           is_active=await service.read_activation(patient_id))


async def _set_active(patient_id: str, active: bool, service: PatientService) -> Activation:
    await service.set_active(patient_id, active)
    word = "activated" if active else "deactivated"
    return Activation(patient_id=patient_id, is_active=active, message=f"Patient {word}")


@router.post("/{patient_id}/deactivate", response_model=Activation, dependencies=ADMIN)
async def deactivate(patient_id: PatientId, service: PatientServiceDep) -> Activation:
    return await _set_active(patient_id, False, service)


@router.post("/{patient_id}/activate", response_model=Activation, dependencies=ADMIN)
async def activate(patient_id: PatientId, service: PatientServiceDep) -> Activation:
    return await _set_active(patient_id, True, service)


@router.get("/{patient_id}/shared-organisations", response_model=SharedOrganisations)
async def shared_organisations(patient_id: PatientId, service: PatientServiceDep
                               ) -> SharedOrganisations:
    orgs = await service.shared_organisations(patient_id)
    return SharedOrganisations(organisations=[
        SharedOrganisation(id=o.id, name=o.name, type=o.type) for o in orgs])


@router.get("/{patient_id}/access-log", response_model=AccessLog)
async def read_access_log(patient_id: PatientId, service: PatientServiceDep,
                          limit: LimitQuery = DEFAULT_LIMIT, cursor: CursorQuery = None
                          ) -> AccessLog:
    entries, more = await service.access_log(patient_id, limit=limit, cursor=cursor)
    return AccessLog(entries=[AccessLogEntry(**vars(e)) for e in entries], next_cursor=more)
