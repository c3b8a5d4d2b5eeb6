"""Organisation rules: types, who may see one, staff and patient membership, features."""

from __future__ import annotations

from dataclasses import dataclass

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
from quill.db.keyset import decode_cursor, next_cursor
from quill.errors import Conflict, Forbidden, Invalid, NotFound
from quill.fhir.port import FhirStore, existing_patient
from quill.identity.caller import Caller
from quill.identity.levels import PermissionLevel, is_staff, parse_level
from quill.identity.models import User
from quill.organisations.schemas import OrganisationIn, OrganisationPatch

# A membership row can also hold a self-registered, patient-level account (registration
# with an organisation records it there as the account's primary organisation). Those are
# never staff: staff lists and counts show staff-level users only.
STAFF_LEVELS = tuple(level.value for level in PermissionLevel if is_staff(level))


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


@dataclass(frozen=True)
class OrganisationPage:
    organisations: list[Organisation]
    next_cursor: str | None


@dataclass(frozen=True)
class OrganisationMembers:
    """One organisation with its staff (user, is primary) and patient memberships."""

    organisation: Organisation
    staff: list[tuple[User, bool]]
    patients: list[PatientMembership]
    staff_count: int
    patient_count: int


@dataclass
class OrganisationService:
    """Organisations, their members and their features, for a signed-in caller."""

    db: AsyncSession
    caller: Caller
    auditor: Auditor
    clock: Clock
    fhir: FhirStore

    async def list_organisations(self, *, limit: int, cursor: str | None) -> OrganisationPage:
        query = select(Organisation).order_by(Organisation.id).limit(limit + 1)
        after_id = decode_cursor(cursor)
        if after_id is not None:
            query = query.where(Organisation.id > after_id)
        rows = list((await self.db.execute(query)).scalars().all())
        return OrganisationPage(organisations=rows[:limit],
                                next_cursor=next_cursor([o.id for o in rows], limit))

    async def get_organisation(self, organisation_id: int) -> Organisation:
        organisation = await self.db.get(Organisation, organisation_id)
        if organisation is None:
            raise NotFound("Organisation not found")
        return organisation

    async def visible_organisation(self, oid: int) -> Organisation:
        """Admins see every organisation; staff see the ones they work in."""
        organisation = await self.get_organisation(oid)
        if not self.caller.is_admin and not (
            self.caller.is_staff and await self._is_staff_member(self.caller.user_id, oid)
        ):
            raise Forbidden("Not a member of this organisation")
        return organisation

    async def detail(self, oid: int) -> OrganisationMembers:
        """A visible organisation with its members and how many there are."""
        organisation = await self.visible_organisation(oid)
        staff, patients = await self._members(oid)
        return OrganisationMembers(
            organisation=organisation, staff=staff, patients=patients,
            staff_count=len(staff),
            patient_count=await self._count(PatientMembership, oid),
        )

    async def create(self, body: OrganisationIn) -> Organisation:
        now = self.clock.now()
        organisation = Organisation(name=require_name(body.name), type=require_type(body.type),
                                    location=body.location, created_at=now, updated_at=now)
        self.db.add(organisation)
        await self.db.flush()
        await self.auditor.record("organisation.create", "Organisation", str(organisation.id))
        return organisation

    async def update_organisation(self, oid: int, body: OrganisationPatch) -> Organisation:
        kind = require_type(body.type) if body.type is not None else None
        name = require_name(body.name) if body.name is not None else None
        organisation = await self.get_organisation(oid)
        if name is not None:
            organisation.name = name
        if kind is not None:
            organisation.type = kind
        if "location" in body.model_fields_set:
            organisation.location = body.location
        organisation.updated_at = self.clock.now()
        await self.db.flush()
        await self.auditor.record("organisation.update", "Organisation", str(oid))
        return organisation

    async def add_staff(self, oid: int, user_id: int, is_primary: bool) -> User:
        await self.get_organisation(oid)
        user = await self.db.get(User, user_id)
        if user is None:
            raise NotFound("User not found")
        if not is_staff(parse_level(user.system_permissions) or PermissionLevel.PATIENT):
            raise Invalid("User must be staff or above to join an organisation's staff")
        await self._join(user_id, oid, primary=is_primary)
        await self.auditor.record("organisation.staff_add", "Organisation", str(oid))
        return user

    async def remove_staff(self, oid: int, user_id: int) -> None:
        membership = (await self.db.execute(select(StaffMembership).where(
            StaffMembership.organisation_id == oid, StaffMembership.user_id == user_id,
        ))).scalars().first()
        if membership is None:
            raise NotFound("Membership not found")
        await self.db.delete(membership)
        await self.db.flush()
        await self.auditor.record("organisation.staff_remove", "Organisation", str(oid))

    async def add_patient(self, oid: int, patient_id: str, is_primary: bool) -> None:
        await self.get_organisation(oid)
        await existing_patient(self.fhir, patient_id)
        found = await self.db.execute(select(PatientMembership.id).where(
            PatientMembership.organisation_id == oid, PatientMembership.patient_id == patient_id))
        if found.first() is not None:
            raise Conflict("Patient is already a member of this organisation")
        if is_primary:
            await self.db.execute(update(PatientMembership)
                                  .where(PatientMembership.patient_id == patient_id)
                                  .values(is_primary=False))
        self.db.add(PatientMembership(organisation_id=oid, patient_id=patient_id,
                                      is_primary=is_primary, created_at=self.clock.now()))
        await self.db.flush()
        await self.auditor.record("organisation.patient_add", "Organisation", str(oid),
                                  patient_id=patient_id)

    async def remove_patient(self, oid: int, patient_id: str) -> None:
        membership = (await self.db.execute(select(PatientMembership).where(
            PatientMembership.organisation_id == oid, PatientMembership.patient_id == patient_id,
        ))).scalars().first()
        if membership is None:
            raise NotFound("Membership not found")
        await self.db.delete(membership)
        await self.db.flush()
        await self.auditor.record("organisation.patient_remove", "Organisation", str(oid),
                                  patient_id=patient_id)

    async def features(self, oid: int) -> list[OrganisationFeature]:
        await self.get_organisation(oid)
        rows = await self.db.execute(select(OrganisationFeature).where(
            OrganisationFeature.organisation_id == oid).order_by(OrganisationFeature.feature_key))
        return list(rows.scalars().all())

    async def set_feature(self, oid: int, key: str, enabled: bool) -> str:
        await self.get_organisation(oid)
        require_feature(key)
        row = (await self.db.execute(select(OrganisationFeature).where(
            OrganisationFeature.organisation_id == oid, OrganisationFeature.feature_key == key,
        ))).scalars().first()
        if enabled and row is not None:
            return "already_enabled"
        if not enabled and row is None:
            return "already_disabled"
        if enabled:
            self.db.add(OrganisationFeature(organisation_id=oid, feature_key=key,
                                            enabled_at=self.clock.now(),
                                            enabled_by=self.caller.user_id))
        else:
            await self.db.delete(row)
        await self.db.flush()
        status = "enabled" if enabled else "disabled"
        await self.auditor.record(f"organisation.feature_{status}", "Organisation",
                                  f"{oid}:{key}")
        return status

    async def _is_staff_member(self, user_id: int, organisation_id: int) -> bool:
        found = await self.db.execute(select(StaffMembership.id).where(
            StaffMembership.user_id == user_id,
            StaffMembership.organisation_id == organisation_id))
        return found.first() is not None

    async def _join(self, user_id: int, oid: int, *, primary: bool) -> StaffMembership:
        """At most one primary organisation per user: a new primary takes over from the old."""
        if await self._is_staff_member(user_id, oid):
            raise Conflict("User is already a member of this organisation")
        if primary:
            await self.db.execute(update(StaffMembership)
                                  .where(StaffMembership.user_id == user_id)
                                  .values(is_primary=False))
        membership = StaffMembership(organisation_id=oid, user_id=user_id, is_primary=primary,
                                     created_at=self.clock.now())
        self.db.add(membership)
        await self.db.flush()
        return membership

    async def _members(self, oid: int) -> tuple[
        list[tuple[User, bool]], list[PatientMembership]
    ]:
        staff = (await self.db.execute(
            select(User, StaffMembership.is_primary)
            .join(StaffMembership, StaffMembership.user_id == User.id)
            .where(StaffMembership.organisation_id == oid,
                   User.system_permissions.in_(STAFF_LEVELS))
            .order_by(User.id)
        )).all()
        patients = (await self.db.execute(
            select(PatientMembership).where(PatientMembership.organisation_id == oid)
            .order_by(PatientMembership.patient_id)
        )).scalars().all()
        return [(user, primary) for user, primary in staff], list(patients)

    async def _count(self, model: type[PatientMembership], oid: int) -> int:
        query = select(func.count(model.id)).where(model.organisation_id == oid)
        return int((await self.db.execute(query)).scalar_one())
