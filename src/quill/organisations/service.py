"""Organisation rules: types, who may see one, staff and patient membership, features."""

from __future__ import annotations

from sqlalchemy import func, select, update
from sqlalchemy.ext.asyncio import AsyncSession

from quill.access.features import require_feature
from quill.access.models import (
    Organisation,
    OrganisationFeature,
    OrganisationType,
    PatientMembership,
    StaffMembership,
)
from quill.audit.service import Auditor
from quill.clock import Clock
from quill.errors import Conflict, Forbidden, Invalid, NotFound
from quill.fhir.port import FhirStore, existing_patient
from quill.identity.caller import Caller
from quill.identity.levels import PermissionLevel, is_staff, parse_level
from quill.identity.models import User
from quill.organisations.schemas import OrganisationIn, OrganisationPatch


def require_type(value: str) -> str:
    try:
        return OrganisationType(value).value
    except ValueError as exc:
        valid = ", ".join(t.value for t in OrganisationType)
        raise Invalid(f"Invalid organisation type: {value}. Valid types: {valid}") from exc


def require_name(value: str) -> str:
    name = value.strip()
    if not name:
        raise Invalid("Organisation name is required")
    return name


async def get_organisation(db: AsyncSession, organisation_id: int) -> Organisation:
    organisation = await db.get(Organisation, organisation_id)
    if organisation is None:
        raise NotFound("Organisation not found")
    return organisation


async def is_staff_member(db: AsyncSession, user_id: int, organisation_id: int) -> bool:
    found = await db.execute(select(StaffMembership.id).where(
        StaffMembership.user_id == user_id, StaffMembership.organisation_id == organisation_id))
    return found.first() is not None


async def visible_organisation(db: AsyncSession, caller: Caller, oid: int) -> Organisation:
    """Admins see every organisation; staff see the ones they work in."""
    organisation = await get_organisation(db, oid)
    if not caller.is_admin and not (
        caller.is_staff and await is_staff_member(db, caller.user_id, oid)
    ):
        raise Forbidden("Not a member of this organisation")
    return organisation


async def create(db: AsyncSession, clock: Clock, body: OrganisationIn,
                 auditor: Auditor) -> Organisation:
    now = clock.now()
    organisation = Organisation(name=require_name(body.name), type=require_type(body.type),
                                location=body.location, created_at=now, updated_at=now)
    db.add(organisation)
    await db.flush()
    await auditor.record("organisation.create", "Organisation", str(organisation.id))
    return organisation


async def update_organisation(db: AsyncSession, clock: Clock, oid: int, body: OrganisationPatch,
                              auditor: Auditor) -> Organisation:
    kind = require_type(body.type) if body.type is not None else None
    name = require_name(body.name) if body.name is not None else None
    organisation = await get_organisation(db, oid)
    if name is not None:
        organisation.name = name
    if kind is not None:
        organisation.type = kind
    if "location" in body.model_fields_set:
        organisation.location = body.location
    organisation.updated_at = clock.now()
    await db.flush()
    await auditor.record("organisation.update", "Organisation", str(oid))
    return organisation


async def join_organisation(db: AsyncSession, clock: Clock, user_id: int, oid: int, *,
                            primary: bool) -> StaffMembership:
    """Add a user membership (no level check: registration uses it for new accounts).

    At most one primary organisation per user: a new primary takes over from the old.
    """
    if await is_staff_member(db, user_id, oid):
        raise Conflict("User is already a member of this organisation")
    if primary:
        await db.execute(update(StaffMembership)
                         .where(StaffMembership.user_id == user_id)
                         .values(is_primary=False))
    membership = StaffMembership(organisation_id=oid, user_id=user_id, is_primary=primary,
                                 created_at=clock.now())
    db.add(membership)
    await db.flush()
    return membership


async def add_staff(db: AsyncSession, clock: Clock, oid: int, user_id: int, is_primary: bool,
                    auditor: Auditor) -> User:
    await get_organisation(db, oid)
    user = await db.get(User, user_id)
    if user is None:
        raise NotFound("User not found")
    if not is_staff(parse_level(user.system_permissions) or PermissionLevel.PATIENT):
        raise Invalid("User must be staff or above to join an organisation's staff")
    await join_organisation(db, clock, user_id, oid, primary=is_primary)
    await auditor.record("organisation.staff_add", "Organisation", str(oid))
    return user


async def remove_staff(db: AsyncSession, oid: int, user_id: int, auditor: Auditor) -> None:
    membership = (await db.execute(select(StaffMembership).where(
        StaffMembership.organisation_id == oid, StaffMembership.user_id == user_id,
    ))).scalars().first()
    if membership is None:
        raise NotFound("Membership not found")
    await db.delete(membership)
    await db.flush()
    await auditor.record("organisation.staff_remove", "Organisation", str(oid))


async def add_patient(db: AsyncSession, clock: Clock, oid: int, patient_id: str,
                      is_primary: bool, auditor: Auditor, fhir: FhirStore) -> None:
    await get_organisation(db, oid)
    await existing_patient(fhir, patient_id)
    found = await db.execute(select(PatientMembership.id).where(
        PatientMembership.organisation_id == oid, PatientMembership.patient_id == patient_id))
    if found.first() is not None:
        raise Conflict("Patient is already a member of this organisation")
    if is_primary:
        await db.execute(update(PatientMembership)
                         .where(PatientMembership.patient_id == patient_id)
                         .values(is_primary=False))
    db.add(PatientMembership(organisation_id=oid, patient_id=patient_id, is_primary=is_primary,
                             created_at=clock.now()))
    await db.flush()
    await auditor.record("organisation.patient_add", "Organisation", str(oid),
                         patient_id=patient_id)


async def remove_patient(db: AsyncSession, oid: int, patient_id: str,
                         auditor: Auditor) -> None:
    membership = (await db.execute(select(PatientMembership).where(
        PatientMembership.organisation_id == oid, PatientMembership.patient_id == patient_id,
    ))).scalars().first()
    if membership is None:
        raise NotFound("Membership not found")
    await db.delete(membership)
    await db.flush()
    await auditor.record("organisation.patient_remove", "Organisation", str(oid),
                         patient_id=patient_id)


async def members(db: AsyncSession, oid: int) -> tuple[
    list[tuple[User, bool]], list[PatientMembership]
]:
    staff = (await db.execute(
        select(User, StaffMembership.is_primary)
        .join(StaffMembership, StaffMembership.user_id == User.id)
        .where(StaffMembership.organisation_id == oid).order_by(User.id)
    )).all()
    patients = (await db.execute(
        select(PatientMembership).where(PatientMembership.organisation_id == oid)
        .order_by(PatientMembership.patient_id)
    )).scalars().all()
    return [(user, primary) for user, primary in staff], list(patients)


async def features(db: AsyncSession, oid: int) -> list[OrganisationFeature]:
    await get_organisation(db, oid)
    rows = await db.execute(select(OrganisationFeature).where(
        OrganisationFeature.organisation_id == oid).order_by(OrganisationFeature.feature_key))
    return list(rows.scalars().all())


async def set_feature(db: AsyncSession, clock: Clock, caller: Caller, oid: int, key: str,
                      enabled: bool, auditor: Auditor) -> str:
    await get_organisation(db, oid)
    require_feature(key)
    row = (await db.execute(select(OrganisationFeature).where(
        OrganisationFeature.organisation_id == oid, OrganisationFeature.feature_key == key,
    ))).scalars().first()
    if enabled and row is not None:
        return "already_enabled"
    if not enabled and row is None:
        return "already_disabled"
    if enabled:
        db.add(OrganisationFeature(organisation_id=oid, feature_key=key,
                                   enabled_at=clock.now(), enabled_by=caller.user_id))
    else:
        await db.delete(row)
    await db.flush()
    status = "enabled" if enabled else "disabled"
    await auditor.record(f"organisation.feature_{status}", "Organisation", f"{oid}:{key}")
    return status


async def count(db: AsyncSession, model: type[StaffMembership] | type[PatientMembership],
                oid: int) -> int:
    query = select(func.count(model.id)).where(model.organisation_id == oid)
    return int((await db.execute(query)).scalar_one())
