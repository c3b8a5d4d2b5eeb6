"""Organisation routes (HTTP only; rules live in the service)."""

from __future__ import annotations

from typing import Annotated

from fastapi import Depends, Request
from fastapi import Path as PathParam

from quill.access.models import Organisation
from quill.auth.deps import AdminCaller, AuditorDep, CurrentCaller
from quill.db.keyset import DEFAULT_LIMIT
from quill.fhir.port import FHIR_ID_PATTERN
from quill.organisations.schemas import (
    FeatureList,
    FeatureOut,
    FeatureStatus,
    FeatureToggle,
    OrganisationDetail,
    OrganisationIn,
    OrganisationList,
    OrganisationOut,
    OrganisationPatch,
    PatientAdded,
    PatientIn,
    PatientMemberOut,
    Removed,
    StaffAdded,
    StaffIn,
    StaffMemberOut,
)
from quill.organisations.service import OrganisationService
from quill.web.deps import DbSession
from quill.web.keyset import CursorQuery, IdPath, LimitQuery
from quill.web.routing import api_router
from quill.web.wiring import platform_of

router = api_router("/organizations", tags=["organisations"])
PatientIdPath = Annotated[str, PathParam(max_length=64, pattern=FHIR_ID_PATTERN)]
FeatureKeyPath = Annotated[str, PathParam(max_length=64)]


async def get_service(request: Request, db: DbSession, caller: CurrentCaller,
                      auditor: AuditorDep) -> OrganisationService:
    platform = platform_of(request)
    return OrganisationService(db=db, caller=caller, auditor=auditor, clock=platform.clock,
                               fhir=platform.fhir.store(db))


OrganisationServiceDep = Annotated[OrganisationService, Depends(get_service)]


def _out(organisation: Organisation) -> OrganisationOut:
    return OrganisationOut(id=organisation.id, name=organisation.name, type=organisation.type,
                           location=organisation.location, created_at=organisation.created_at,
                           updated_at=organisation.updated_at)


# Each route names its gate before the service, so the caller is resolved (and refused)
# first, exactly as when routes took the caller and the session themselves.
@router.get("", response_model=OrganisationList)
async def list_organisations(caller: AdminCaller, service: OrganisationServiceDep,
                             limit: LimitQuery = DEFAULT_LIMIT,
                             cursor: CursorQuery = None) -> OrganisationList:
    page = await service.list_organisations(limit=limit, cursor=cursor)
    return OrganisationList(organizations=[_out(o) for o in page.organisations],
                            next_cursor=page.next_cursor)


@router.get("/{organisation_id}", response_model=OrganisationDetail)
async def get_organisation(organisation_id: IdPath, caller: CurrentCaller,
                           service: OrganisationServiceDep) -> OrganisationDetail:
    found = await service.detail(organisation_id)
    return OrganisationDetail(
        **_out(found.organisation).model_dump(),
        staff_count=found.staff_count, patient_count=found.patient_count,
        staff_members=[StaffMemberOut(id=u.id, username=u.username, email=u.email,
                                      is_primary=primary) for u, primary in found.staff],
        patient_members=[PatientMemberOut(patient_id=p.patient_id, is_primary=p.is_primary)
                         for p in found.patients],
    )


@router.post("", response_model=OrganisationOut)
async def create_organisation(body: OrganisationIn, caller: AdminCaller,
                              service: OrganisationServiceDep) -> OrganisationOut:
    return _out(await service.create(body))


@router.put("/{organisation_id}", response_model=OrganisationOut)
async def update_organisation(organisation_id: IdPath, body: OrganisationPatch,
                              caller: AdminCaller,
                              service: OrganisationServiceDep) -> OrganisationOut:
    return _out(await service.update_organisation(organisation_id, body))


@router.post("/{organisation_id}/staff", response_model=StaffAdded)
async def add_staff(organisation_id: IdPath, body: StaffIn, caller: AdminCaller,
                    service: OrganisationServiceDep) -> StaffAdded:
    user = await service.add_staff(organisation_id, body.user_id, body.is_primary)
    return StaffAdded(organisation_id=organisation_id, user_id=user.id, username=user.username)


@router.delete("/{organisation_id}/staff/{user_id}", response_model=Removed)
async def remove_staff(organisation_id: IdPath, user_id: IdPath, caller: AdminCaller,
                       service: OrganisationServiceDep) -> Removed:
    await service.remove_staff(organisation_id, user_id)
    return Removed(status="removed")


@router.post("/{organisation_id}/patients", response_model=PatientAdded)
async def add_patient(organisation_id: IdPath, body: PatientIn, caller: AdminCaller,
                      service: OrganisationServiceDep) -> PatientAdded:
    await service.add_patient(organisation_id, body.patient_id, body.is_primary)
    return PatientAdded(organisation_id=organisation_id, patient_id=body.patient_id)


@router.delete("/{organisation_id}/patients/{patient_id}", response_model=Removed)
async def remove_patient(organisation_id: IdPath, patient_id: PatientIdPath,
                         caller: AdminCaller, service: OrganisationServiceDep) -> Removed:
    await service.remove_patient(organisation_id, patient_id)
    return Removed(status="removed")


@router.get("/{organisation_id}/features", response_model=FeatureList)
async def list_features(organisation_id: IdPath, caller: AdminCaller,
                        service: OrganisationServiceDep) -> FeatureList:
    rows = await service.features(organisation_id)
    return FeatureList(features=[
        FeatureOut(feature_key=r.feature_key, enabled_at=r.enabled_at, enabled_by=r.enabled_by)
        for r in rows
    ])


@router.put("/{organisation_id}/features/{feature_key}", response_model=FeatureStatus)
async def set_feature(organisation_id: IdPath, feature_key: FeatureKeyPath, body: FeatureToggle,
                      caller: AdminCaller, service: OrganisationServiceDep) -> FeatureStatus:
    status = await service.set_feature(organisation_id, feature_key, body.enabled)
    return FeatureStatus(status=status)
