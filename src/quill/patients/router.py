"""Patients routes: HTTP only. Clinical, audited, patient access through the policy."""

from __future__ import annotations

from typing import Annotated, Any, Literal

from fastapi import Body, Depends, Header, Path, Query, Response

from quill.auth.deps import AdminCaller, AuditorDep, CurrentCaller, StaffCaller
from quill.db.keyset import DEFAULT_LIMIT
from quill.errors import Forbidden, Upstream
from quill.fhir.port import Resource, etag, existing_patient, version_of
from quill.identity.caller import Caller
from quill.patients import access_log, listing, service
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
from quill.web.clinical import require_clinical_services
from quill.web.deps import DbSession, RuntimeDep
from quill.web.keyset import CursorQuery, LimitQuery
from quill.web.routing import api_router

router = api_router("/patients", tags=["patients"],
                   dependencies=[Depends(require_clinical_services)])

PatientId = Annotated[str, Path(min_length=1, max_length=64)]
IfMatch = Annotated[str | None, Header(alias="If-Match", max_length=100)]


def _ctx(db: DbSession, runtime: RuntimeDep, caller: Caller) -> service.PatientContext:
    return service.PatientContext(db, runtime.fhir.store(db), caller, runtime.clock,
                                  runtime.settings.mrn_system, runtime.ids)


def _with_etag(response: Response, patient: Resource) -> Resource:
    version = version_of(patient)
    if version is not None:
        response.headers["ETag"] = etag(version)
    return patient


@router.post("", response_model=dict[str, Any])
async def create_patient(body: PatientIn, caller: StaffCaller, db: DbSession,
                         runtime: RuntimeDep, auditor: AuditorDep, response: Response
                         ) -> Resource:
    created = await service.create_patient(_ctx(db, runtime, caller), body.fields(),
                                           body.patient_id)
    pid = str(created["id"])
    await auditor.record("patient.create", "Patient", pid, patient_id=pid)
    return _with_etag(response, created)


@router.get("", response_model=PatientList)
async def list_patients(
    caller: CurrentCaller, db: DbSession, runtime: RuntimeDep, auditor: AuditorDep,
    include_inactive: bool = False,
    scope: Annotated[Literal["admin"] | None, Query()] = None,
    limit: LimitQuery = DEFAULT_LIMIT,
    # Roomy: against an external server the cursor wraps that server's next-page link.
    cursor: Annotated[str | None, Query(max_length=4000)] = None,
    q: Annotated[str | None, Query(max_length=200)] = None,
) -> PatientList:
    if scope == "admin" and not caller.is_admin:
        raise Forbidden("scope=admin needs admin privileges")
    req = listing.ListRequest(caller=caller, limit=limit, cursor=cursor, q=q,
                              include_inactive=include_inactive and caller.is_admin)
    try:
        if not runtime.fhir.external:
            page = await listing.list_embedded(db, req)
        elif caller.is_admin:
            page = await listing.list_external_all(db, runtime.fhir.store(db), req)
        else:
            page = await listing.list_external_visible(db, runtime.fhir.store(db), req)
    except Upstream:
        return PatientList(patients=[], fhir_ready=False, next_cursor=None)
    # One row for the listing: per-patient rows would make a page cost 50 chain writes.
    await auditor.record("patient.list", "Patient", None)
    patients = [{**p, "is_active": str(p["id"]) not in page.inactive} for p in page.patients]
    return PatientList(patients=patients, fhir_ready=True, next_cursor=page.next_cursor)


@router.post("/verify", response_model=Verified)
async def verify_patient(
    patient_id: Annotated[str, Query(min_length=1, max_length=64)],
    caller: StaffCaller, db: DbSession, runtime: RuntimeDep, auditor: AuditorDep,
) -> Verified:
    await service.visible_patient(_ctx(db, runtime, caller), patient_id)
    await auditor.record("patient.verify", "Patient", patient_id, patient_id=patient_id)
    return Verified(patient_id=patient_id, status="ready")


@router.get("/{patient_id}", response_model=dict[str, Any])
async def read_patient(patient_id: PatientId, caller: CurrentCaller, db: DbSession,
                       runtime: RuntimeDep, auditor: AuditorDep, response: Response
                       ) -> Resource:
    patient = await service.visible_patient(_ctx(db, runtime, caller), patient_id)
    await auditor.record("patient.read", "Patient", patient_id, patient_id=patient_id)
    return _with_etag(response, patient)


@router.patch("/{patient_id}", response_model=dict[str, Any])
async def patch_patient(patient_id: PatientId, body: PatientPatch, caller: StaffCaller,
                        db: DbSession, runtime: RuntimeDep, auditor: AuditorDep,
                        response: Response, if_match: IfMatch = None) -> Resource:
    updated = await service.patch_patient(_ctx(db, runtime, caller), patient_id,
                                          body.fields(), if_match)
    await auditor.record("patient.update", "Patient", patient_id, patient_id=patient_id)
    return _with_etag(response, updated)


@router.get("/{patient_id}/demographics", response_model=Demographics)
async def get_demographics(patient_id: PatientId, caller: CurrentCaller, db: DbSession,
                           runtime: RuntimeDep, auditor: AuditorDep) -> Demographics:
    patient = await service.visible_patient(_ctx(db, runtime, caller), patient_id)
    await auditor.record("patient.demographics_read", "Patient", patient_id,
                         patient_id=patient_id)
    return Demographics(patient_id=patient_id, data=patient)


@router.put("/{patient_id}/demographics", response_model=DemographicsUpdated)
async def put_demographics(
    patient_id: PatientId, demographics: Annotated[dict[str, Any], Body()],
    caller: StaffCaller, db: DbSession, runtime: RuntimeDep, auditor: AuditorDep,
) -> DemographicsUpdated:
    updated = await service.put_demographics(_ctx(db, runtime, caller), patient_id,
                                             demographics)
    await auditor.record("patient.demographics_update", "Patient", patient_id,
                         patient_id=patient_id)
    return DemographicsUpdated(patient_id=patient_id, updated=True, data=updated)


@router.get("/{patient_id}/metadata", response_model=PatientMetadata)
async def get_metadata(patient_id: PatientId, caller: CurrentCaller, db: DbSession,
                       runtime: RuntimeDep, auditor: AuditorDep) -> PatientMetadata:
    await service.visible_patient(_ctx(db, runtime, caller), patient_id)
    await auditor.record("patient.metadata_read", "Patient", patient_id, patient_id=patient_id)
    return PatientMetadata(patient_id=patient_id, is_active=await service.is_active(db, patient_id))


async def _set_active(patient_id: str, active: bool, caller: Caller, db: DbSession,
                      runtime: RuntimeDep, auditor: AuditorDep) -> Activation:
    await service.set_active(_ctx(db, runtime, caller), patient_id, active)
    action = "patient.activate" if active else "patient.deactivate"
    await auditor.record(action, "Patient", patient_id, patient_id=patient_id)
    word = "activated" if active else "deactivated"
    return Activation(patient_id=patient_id, is_active=active, message=f"Patient {word}")


@router.post("/{patient_id}/deactivate", response_model=Activation)
async def deactivate(patient_id: PatientId, caller: AdminCaller, db: DbSession,
                     runtime: RuntimeDep, auditor: AuditorDep) -> Activation:
    return await _set_active(patient_id, False, caller, db, runtime, auditor)


@router.post("/{patient_id}/activate", response_model=Activation)
async def activate(patient_id: PatientId, caller: AdminCaller, db: DbSession,
                   runtime: RuntimeDep, auditor: AuditorDep) -> Activation:
    return await _set_active(patient_id, True, caller, db, runtime, auditor)


@router.get("/{patient_id}/shared-organisations", response_model=SharedOrganisations)
async def shared_organisations(patient_id: PatientId, caller: CurrentCaller, db: DbSession,
                               runtime: RuntimeDep, auditor: AuditorDep
                               ) -> SharedOrganisations:
    orgs = await service.shared_organisations(_ctx(db, runtime, caller), patient_id)
    await auditor.record("patient.organisations_read", "Patient", patient_id,
                         patient_id=patient_id)
    return SharedOrganisations(organisations=[
        SharedOrganisation(id=o.id, name=o.name, type=o.type) for o in orgs])


@router.get("/{patient_id}/access-log", response_model=AccessLog)
async def read_access_log(patient_id: PatientId, caller: CurrentCaller, db: DbSession,
                          runtime: RuntimeDep, auditor: AuditorDep,
                          limit: LimitQuery = DEFAULT_LIMIT, cursor: CursorQuery = None
                          ) -> AccessLog:
    await access_log.ensure_may_read_log(db, caller, patient_id)
    await existing_patient(runtime.fhir.store(db), patient_id)
    entries, more = await access_log.read_log(db, patient_id, limit=limit, cursor=cursor)
    await auditor.record("patient.access_log_read", "Patient", patient_id,
                         patient_id=patient_id)
    return AccessLog(entries=[AccessLogEntry(**vars(e)) for e in entries], next_cursor=more)
