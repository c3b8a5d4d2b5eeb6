"""The patient-access policy, in one place.

A caller may see patient P when they are admin, staff sharing an organisation with P, the
patient user linked to P, or hold an unrevoked external grant for P. Routes must use only
``can_see_patient`` for one patient and ``patient_filter``, ``visible_patient_sources`` or
``visible_patient_ids`` inside list queries.
"""

from __future__ import annotations

from typing import Any

from sqlalchemy import Select, literal, or_, select, union
from sqlalchemy.ext.asyncio import AsyncSession
from sqlalchemy.orm import InstrumentedAttribute
from sqlalchemy.sql.elements import ColumnElement

from quill.access.models import ExternalGrant, PatientMembership, StaffMembership
from quill.errors import NotFound
from quill.identity.caller import Caller
from quill.identity.levels import PermissionLevel, is_admin, is_staff


def _staff_patients(user_id: int) -> Select[Any]:
    return (
        select(PatientMembership.patient_id)
        .join(StaffMembership,
              StaffMembership.organisation_id == PatientMembership.organisation_id)
        .where(StaffMembership.user_id == user_id)
    )


def _granted_patients(user_id: int) -> Select[Any]:
    return select(ExternalGrant.patient_id).where(
        ExternalGrant.user_id == user_id, ExternalGrant.revoked_at.is_(None)
    )


def visible_patient_ids(caller: Caller) -> Select[Any] | None:
    """A subquery of patient ids the caller may see, or None meaning "every patient".

    Use it inside list queries: ``.where(Model.patient_id.in_(visible))``.
    """
    level = caller.level
    if is_admin(level):
        return None
    parts: list[Select[Any]] = []
    if is_staff(level):
        parts.append(_staff_patients(caller.user_id))
    # Rule 4 holds for any caller: a relative who is also a patient user keeps both.
    parts.append(_granted_patients(caller.user_id))
    if caller.fhir_patient_id:
        parts.append(select(literal(caller.fhir_patient_id)))
    if len(parts) == 1:
        return parts[0]
    combined = union(*parts).subquery()
    return select(combined.c[0])


def patient_filter(
    caller: Caller, column: ColumnElement[str] | InstrumentedAttribute[str]
) -> ColumnElement[bool] | None:
    """A WHERE clause limiting ``column`` (a patient id) to what the caller may see.

    Correlated EXISTS probes (a few index lookups per row) rather than ``IN (visible ids)``:
    a listing that walks an index in its own order and stops after one page then never
    collects the caller's whole visible set, however large it is.
    """
    return patient_rule(caller.level, caller.user_id, caller.fhir_patient_id, column)


def patient_rule(level: PermissionLevel, user_id: int, fhir_patient_id: str | None,
                 column: ColumnElement[str] | InstrumentedAttribute[str]
                 ) -> ColumnElement[bool] | None:
    """``patient_filter`` from the three facts it depends on, for callers that build the
    clause once per user and reuse it (it is SQL, evaluated when a statement runs)."""
    if is_admin(level):
        return None
    allowed: list[ColumnElement[bool]] = []
    if is_staff(level):
        allowed.append(select(literal(1)).where(
            PatientMembership.patient_id == column,
            StaffMembership.organisation_id == PatientMembership.organisation_id,
            StaffMembership.user_id == user_id).exists())
    allowed.append(select(literal(1)).where(
        ExternalGrant.patient_id == column, ExternalGrant.user_id == user_id,
        ExternalGrant.revoked_at.is_(None)).exists())
    if fhir_patient_id:
        allowed.append(column == fhir_patient_id)
    return or_(*allowed)


async def visible_patient_sources(db: AsyncSession, caller: Caller
                                  ) -> list[Select[Any]] | None:
    """The caller's visible patient ids as a few one-column selects, or None (every patient).

    Each source is one index range in patient-id order: one per organisation the caller
    works in (found with one small query), their grants, their own record. A listing walks
    each source in id order and stops after a page, so the first page costs the same for a
    caller who sees five patients and one who sees half a million.
    """
    level = caller.level
    if is_admin(level):
        return None
    sources: list[Select[Any]] = []
    if is_staff(level):
        organisations = (await db.execute(
            select(StaffMembership.organisation_id)
            .where(StaffMembership.user_id == caller.user_id)
            .order_by(StaffMembership.organisation_id))).scalars().all()
        sources += [select(PatientMembership.patient_id)
                    .where(PatientMembership.organisation_id == organisation)
                    for organisation in organisations]
    sources.append(_granted_patients(caller.user_id))
    if caller.fhir_patient_id:
        sources.append(select(literal(caller.fhir_patient_id).label("patient_id")))
    return sources


async def can_see_patient(db: AsyncSession, caller: Caller, patient_id: str) -> bool:
    if is_admin(caller.level):
        return True
    if caller.fhir_patient_id == patient_id:
        return True
    # The same probes a listing uses, on one id: a few index lookups. An EXISTS over the
    # union of visible ids made SQLite build that union (every patient of the caller's
    # organisations) on each call.
    allowed = patient_filter(caller, literal(patient_id))
    if allowed is None:
        return True
    return bool((await db.execute(select(allowed))).scalar())


async def ensure_can_see_patient(db: AsyncSession, caller: Caller, patient_id: str) -> None:
    """Raise NotFound (never Forbidden) so a record's existence is not revealed."""
    if not await can_see_patient(db, caller, patient_id):
        raise NotFound("Patient not found")
