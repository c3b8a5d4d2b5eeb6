"""Who a caller may list. Filtering happens in SQL, never after fetching everyone."""

from __future__ import annotations

from typing import Any

from sqlalchemy import Select, func, or_, select
from sqlalchemy.ext.asyncio import AsyncSession
from sqlalchemy.orm import aliased

from quill.access.models import ExternalGrant, PatientMembership, StaffMembership
from quill.identity.caller import Caller
from quill.identity.levels import PermissionLevel, rank
from quill.identity.models import User


def _caller_organisations(caller: Caller) -> Select[Any]:
    return select(StaffMembership.organisation_id).where(
        StaffMembership.user_id == caller.user_id)


def colleagues_of(caller: Caller) -> Any:
    """Staff-level users who work in an organisation the caller works in.

    Memberships can also hold patient-level accounts (registration with an organisation),
    which are not colleagues and are not listed to staff this way.
    """
    members = select(StaffMembership.user_id).where(
        StaffMembership.organisation_id.in_(_caller_organisations(caller)))
    return User.id.in_(members) & User.system_permissions.in_(
        levels_at_least(PermissionLevel.STAFF))


def linked_to_patient(caller: Caller, patient_id: str) -> Any:
    """The patient's own user, staff of the patient's organisations, and grant holders.

    A non-admin sees only the staff of organisations they themselves work in, so another
    organisation's staff never show up through a shared patient.
    """
    organisations = select(PatientMembership.organisation_id).where(
        PatientMembership.patient_id == patient_id)
    # An alias: the outer query selects User, which would otherwise correlate into here.
    member = aliased(User)
    staff = (
        select(StaffMembership.user_id)
        .join(member, member.id == StaffMembership.user_id)
        .where(StaffMembership.organisation_id.in_(organisations),
               member.system_permissions.in_(levels_at_least(PermissionLevel.STAFF)))
    )
    if not caller.is_admin:
        staff = staff.where(StaffMembership.organisation_id.in_(_caller_organisations(caller)))
    grants = select(ExternalGrant.user_id).where(
        ExternalGrant.patient_id == patient_id, ExternalGrant.revoked_at.is_(None))
    return or_(User.fhir_patient_id == patient_id, User.id.in_(staff), User.id.in_(grants))


def matching(text: str) -> Any:
    """Username or e-mail starting with ``text``, or a name containing it (any case)."""
    needle = text.strip().lower().replace("\\", "\\\\").replace("%", "\\%").replace("_", "\\_")
    return or_(User.username_key.like(f"{needle}%", escape="\\"),
               User.email.like(f"{needle}%", escape="\\"),
               func.lower(User.full_name).like(f"%{needle}%", escape="\\"))


def levels_at_least(minimum: PermissionLevel) -> list[str]:
    return [level.value for level in PermissionLevel if rank(level) >= rank(minimum)]


async def list_users(
    db: AsyncSession, caller: Caller, *, patient_id: str | None,
    minimum: PermissionLevel | None, after_id: int | None, limit: int,
    q: str | None = None,
) -> list[User]:
    query = select(User).order_by(User.id).limit(limit + 1)
    if patient_id is not None:
        query = query.where(linked_to_patient(caller, patient_id))
    elif not caller.is_admin:
        query = query.where(colleagues_of(caller))
    if minimum is not None:
        query = query.where(User.system_permissions.in_(levels_at_least(minimum)))
    if q:
        query = query.where(matching(q))
    if after_id is not None:
        query = query.where(User.id > after_id)
    return list((await db.execute(query)).scalars().all())
