"""GET /patients: what a listing asks the store for, and the app-side state of the page.

The caller's visible patients are filtered inside the store's query (see
quill.fhir.patient_listing); this module turns the request into that selection and adds
what FHIR does not hold: whether each patient's record is active.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any

from sqlalchemy import Select, select
from sqlalchemy.ext.asyncio import AsyncSession

from quill.fhir.port import PatientSelection, Resource
from quill.fhir.searchparams import normalise as name_search_form
from quill.patients.models import PatientRecord
from quill.patients.nhs_number import normalise


@dataclass(frozen=True)
class ListRequest:
    limit: int
    cursor: str | None
    q: str | None
    include_inactive: bool
    admin_scope: bool


@dataclass(frozen=True)
class PatientPage:
    """``fhir_ready`` is False when the FHIR store could not answer (an empty page)."""

    patients: list[Resource]
    inactive: set[str]
    next_cursor: str | None
    fhir_ready: bool = True


@dataclass(frozen=True)
class Search:
    name_prefix: str | None
    identifier: str | None

    @classmethod
    def parse(cls, q: str | None) -> Search:
        text = (q or "").strip()
        if not text:
            return cls(None, None)
        digits = normalise(text)
        if digits.isascii() and digits.isdigit():
            return cls(None, digits)
        if not name_search_form(text):
            # Nothing a name could start with (a lone accent, say): every name matches.
            return cls(None, None)
        return cls(text, None)


# Built once: the listing keys its statement on this select's SQL.
_INACTIVE_IDS = select(PatientRecord.patient_id).where(PatientRecord.is_active.is_(False))


def inactive_ids() -> Select[Any]:
    return _INACTIVE_IDS


def selection(req: ListRequest, allowed: list[Select[Any]] | None, include_inactive: bool
              ) -> PatientSelection:
    search = Search.parse(req.q)
    return PatientSelection(
        limit=req.limit, allowed=allowed,
        excluded=None if include_inactive else inactive_ids(),
        name_prefix=search.name_prefix, identifier=search.identifier, cursor=req.cursor)


async def inactive_among(db: AsyncSession, ids: list[str]) -> set[str]:
    if not ids:
        return set()
    rows = await db.execute(select(PatientRecord.patient_id).where(
        PatientRecord.patient_id.in_(ids), PatientRecord.is_active.is_(False)))
    return set(rows.scalars().all())
