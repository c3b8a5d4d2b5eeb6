"""Patient rules: visibility first (404 before FHIR is touched), then the FHIR Patient.

Demographics live in FHIR; activation state lives in ``patient_records``.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any

from sqlalchemy import select
from sqlalchemy.exc import IntegrityError
from sqlalchemy.ext.asyncio import AsyncSession

from quill.access.models import Organisation, PatientMembership, StaffMembership
from quill.access.policy import ensure_can_see_patient
from quill.clock import Clock, IdSource
from quill.errors import Conflict, Forbidden, Invalid, NotFound, PreconditionFailed
from quill.fhir.port import (
    FhirStore,
    Resource,
    existing_patient,
    is_valid_id,
    parse_etag,
    version_of,
)
from quill.identity.caller import Caller
from quill.identity.levels import is_admin
from quill.patients.models import PatientRecord
from quill.patients.nhs_number import NHS_NUMBER_SYSTEM
from quill.patients.resource import (
    PatientFields,
    apply_demographics,
    apply_fields,
    new_patient,
    nhs_number_of,
)

NOT_FOUND = "Patient not found"
DUPLICATE_NHS = "A patient with this NHS number already exists"


@dataclass(frozen=True)
class PatientContext:
    db: AsyncSession
    store: FhirStore
    caller: Caller
    clock: Clock
    mrn_system: str
    ids: IdSource


async def visible_patient(ctx: PatientContext, patient_id: str) -> Resource:
    await ensure_can_see_patient(ctx.db, ctx.caller, patient_id)
    return await existing_patient(ctx.store, patient_id)


async def _ensure_unique_nhs(store: FhirStore, nhs_number: str, own_id: str | None) -> None:
    page = await store.search("Patient", {"identifier": f"{NHS_NUMBER_SYSTEM}|{nhs_number}"},
                              count=2)
    if any(found.get("id") != own_id for found in page.resources):
        raise Conflict(DUPLICATE_NHS)


async def _join_primary_organisation(ctx: PatientContext, patient_id: str) -> None:
    primary = (await ctx.db.execute(select(StaffMembership.organisation_id).where(
        StaffMembership.user_id == ctx.caller.user_id, StaffMembership.is_primary,
    ))).scalar_one_or_none()
    if primary is not None:
        ctx.db.add(PatientMembership(organisation_id=primary, patient_id=patient_id,
                                     is_primary=True, created_at=ctx.clock.now()))


async def _claim_record(ctx: PatientContext, patient_id: str, nhs: str | None) -> None:
    """The patient_records row, written before FHIR: its unique NHS number turns a
    concurrent duplicate into a 409 before anything reaches the FHIR store."""
    now = ctx.clock.now()
    record = await ctx.db.get(PatientRecord, patient_id)
    try:
        async with ctx.db.begin_nested():
            if record is None:
                ctx.db.add(PatientRecord(patient_id=patient_id, is_active=True, nhs_number=nhs,
                                         created_at=now, updated_at=now,
                                         updated_by=ctx.caller.user_id))
            else:
                record.nhs_number, record.updated_at = nhs, now
            await ctx.db.flush()
    except IntegrityError:
        raise Conflict(DUPLICATE_NHS) from None


async def create_patient(ctx: PatientContext, fields: PatientFields,
                         patient_id: str | None) -> Resource:
    if patient_id is not None and not is_valid_id(patient_id):
        raise Invalid("patient_id must be a FHIR id (letters, digits, '-' and '.')")
    pid = patient_id or ctx.ids.new_id()
    resource = new_patient(fields, ctx.mrn_system, pid)
    nhs = nhs_number_of(resource)
    if nhs is not None:
        await _ensure_unique_nhs(ctx.store, nhs, None)
    if patient_id is not None and await _exists(ctx.store, patient_id):
        raise Conflict("A patient with this id already exists")
    await _claim_record(ctx, pid, nhs)
    stored = await ctx.store.update(resource)
    await _join_primary_organisation(ctx, pid)
    await ctx.db.flush()
    return stored


async def _exists(store: FhirStore, patient_id: str) -> bool:
    try:
        await store.read("Patient", patient_id)
    except NotFound:
        return False
    return True


def _check_if_match(current: Resource, if_match: str | None) -> str | None:
    version = version_of(current)
    if if_match is not None and parse_etag(if_match) != version:
        raise PreconditionFailed({"message": "Version mismatch", "error_code": "version_conflict",
                                  "current_version": version})
    return version


async def patch_patient(ctx: PatientContext, patient_id: str, fields: PatientFields,
                        if_match: str | None) -> Resource:
    current = await visible_patient(ctx, patient_id)
    version = _check_if_match(current, if_match)
    changed = apply_fields(current, fields, ctx.mrn_system)
    nhs = nhs_number_of(changed)
    if nhs is not None and nhs != nhs_number_of(current):
        await _ensure_unique_nhs(ctx.store, nhs, patient_id)
        await _claim_record(ctx, patient_id, nhs)
    return await ctx.store.update(changed, expected_version=version)


async def put_demographics(ctx: PatientContext, patient_id: str, data: dict[str, Any]
                           ) -> Resource:
    current = await visible_patient(ctx, patient_id)
    changed = apply_demographics(current, data)
    return await ctx.store.update(changed, expected_version=version_of(current))


async def is_active(db: AsyncSession, patient_id: str) -> bool:
    record = await db.get(PatientRecord, patient_id)
    return True if record is None else record.is_active


async def set_active(ctx: PatientContext, patient_id: str, active: bool) -> None:
    if not is_admin(ctx.caller.level):
        raise Forbidden("Admin privileges required")
    await existing_patient(ctx.store, patient_id)
    now = ctx.clock.now()
    record = await ctx.db.get(PatientRecord, patient_id)
    if record is None:
        ctx.db.add(PatientRecord(patient_id=patient_id, is_active=active, created_at=now,
                                 updated_at=now, updated_by=ctx.caller.user_id))
    else:
        record.is_active, record.updated_at = active, now
        record.updated_by = ctx.caller.user_id
    await ctx.db.flush()


async def shared_organisations(ctx: PatientContext, patient_id: str) -> list[Organisation]:
    await visible_patient(ctx, patient_id)
    query = (select(Organisation)
             .join(StaffMembership, StaffMembership.organisation_id == Organisation.id)
             .join(PatientMembership, PatientMembership.organisation_id == Organisation.id)
             .where(StaffMembership.user_id == ctx.caller.user_id,
                    PatientMembership.patient_id == patient_id)
             .distinct().order_by(Organisation.id))
    return list((await ctx.db.execute(query)).scalars().all())
