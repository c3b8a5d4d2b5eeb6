"""Organisation routes (HTTP only)."""

from __future__ import annotations

from typing import Annotated

from fastapi import Path as PathParam
from sqlalchemy import select

from quill.access.models import Organisation, PatientMembership, StaffMembership
from quill.auth.deps import AdminCaller, AuditorDep, CurrentCaller
from quill.db.keyset import DEFAULT_LIMIT, decode_cursor, next_cursor
from quill.fhir.port import FHIR_ID_PATTERN
from quill.organisations import service
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
from quill.web.deps import DbSession, RuntimeDep
from quill.web.keyset import CursorQuery, IdPath, LimitQuery
from quill.web.routing import api_router

router = api_router("/organizations", tags=["organisations"])
PatientIdPath = Annotated[str, PathParam(pattern=FHIR_ID_PATTERN)]
FeatureKeyPath = Annotated[str, PathParam(max_length=64)]


def _out(organisation: Organisation) -> OrganisationOut:
    return OrganisationOut(id=organisation.id, name=organisation.name, type=organisation.type,
                           location=organisation.location, created_at=organisation.created_at,
                           updated_at=organisation.updated_at)


@router.get("", response_model=OrganisationList)
async def list_organisations(caller: AdminCaller, db: DbSession,
                             limit: LimitQuery = DEFAULT_LIMIT,
                             cursor: CursorQuery = None) -> OrganisationList:
    query = select(Organisation).order_by(Organisation.id).limit(limit + 1)
    after_id = decode_cursor(cursor)
    if after_id is not None:
        query = query.where(Organisation.id > after_id)
    rows = list((await db.execute(query)).scalars().all())
    return OrganisationList(organizations=[_out(o) for o in rows[:limit]],
                            next_cursor=next_cursor([o.id for o in rows], limit))


@router.get("/{organisation_id}", response_model=OrganisationDetail)
async def get_organisation(organisation_id: IdPath, caller: CurrentCaller,
                           db: DbSession) -> OrganisationDetail:
    organisation = await service.visible_organisation(db, caller, organisation_id)
    staff, patients = await service.members(db, organisation_id)
    return OrganisationDetail(
        **_out(organisation).model_dump(),
        staff_count=await service.count(db, StaffMembership, organisation_id),
        patient_count=await service.count(db, PatientMembership, organisation_id),
        staff_members=[StaffMemberOut(id=u.id, username=u.username, email=u.email,
                                      is_primary=primary) for u, primary in staff],
        patient_members=[PatientMemberOut(patient_id=p.patient_id, is_primary=p.is_primary)
                         for p in patients],
    )


@router.post("", response_model=OrganisationOut)
async def create_organisation(body: OrganisationIn, caller: AdminCaller, db: DbSession,
                              runtime: RuntimeDep, auditor: AuditorDep) -> OrganisationOut:
    return _out(await service.create(db, runtime.clock, body, auditor))


@router.put("/{organisation_id}", response_model=OrganisationOut)
async def update_organisation(organisation_id: IdPath, body: OrganisationPatch,
                              caller: AdminCaller, db: DbSession, runtime: RuntimeDep,
                              auditor: AuditorDep) -> OrganisationOut:
    return _out(await service.update_organisation(db, runtime.clock, organisation_id, body,
                                                  auditor))


@router.post("/{organisation_id}/staff", response_model=StaffAdded)
async def add_staff(organisation_id: IdPath, body: StaffIn, caller: AdminCaller, db: DbSession,
                    runtime: RuntimeDep, auditor: AuditorDep) -> StaffAdded:
    user = await service.add_staff(db, runtime.clock, organisation_id, body.user_id,
                                   body.is_primary, auditor)
    return StaffAdded(organisation_id=organisation_id, user_id=user.id, username=user.username)


@router.delete("/{organisation_id}/staff/{user_id}", response_model=Removed)
async def remove_staff(organisation_id: IdPath, user_id: IdPath, caller: AdminCaller,
                       db: DbSession, auditor: AuditorDep) -> Removed:
    await service.remove_staff(db, organisation_id, user_id, auditor)
    return Removed(status="removed")


@router.post("/{organisation_id}/patients", response_model=PatientAdded)
async def add_patient(organisation_id: IdPath, body: PatientIn, caller: AdminCaller,
                      db: DbSession, runtime: RuntimeDep, auditor: AuditorDep) -> PatientAdded:
    await service.add_patient(db, runtime.clock, organisation_id, body.patient_id,
                              body.is_primary, auditor, runtime.fhir.store(db))
    return PatientAdded(organisation_id=organisation_id, patient_id=body.patient_id)


@router.delete("/{organisation_id}/patients/{patient_id}", response_model=Removed)
async def remove_patient(organisation_id: IdPath, patient_id: PatientIdPath,
                         caller: AdminCaller, db: DbSession, auditor: AuditorDep) -> Removed:
    await service.remove_patient(db, organisation_id, patient_id, auditor)
    return Removed(status="removed")


@router.get("/{organisation_id}/features", response_model=FeatureList)
async def list_features(organisation_id: IdPath, caller: AdminCaller,
                        db: DbSession) -> FeatureList:
    rows = await service.features(db, organisation_id)
    return FeatureList(features=[
        FeatureOut(feature_key=r.feature_key, enabled_at=r.enabled_at, enabled_by=r.enabled_by)
        for r in rows
    ])


@router.put("/{organisation_id}/features/{feature_key}", response_model=FeatureStatus)
async def set_feature(organisation_id: IdPath, feature_key: FeatureKeyPath, body: FeatureToggle,
                      caller: AdminCaller, db: DbSession, runtime: RuntimeDep,
                      auditor: AuditorDep) -> FeatureStatus:
    status = await service.set_feature(db, runtime.clock, caller, organisation_id, feature_key,
                                       body.enabled, auditor)
    return FeatureStatus(status=status)
