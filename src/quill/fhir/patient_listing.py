"""Listing Patients of the embedded store restricted to a set of ids, in one SQL statement.

Callers pass the ids as a subquery (the access policy's visible ids), so the restriction
happens inside the database: a caller who may see 50 of 100,000 patients costs the same
one statement as a caller who may see 50 of 50.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any

from sqlalchemy import Select, select
from sqlalchemy.ext.asyncio import AsyncSession

from quill.fhir.models import FhirResourceRow, FhirSearchIndexRow
from quill.fhir.port import Resource
from quill.fhir.searchparams import normalise
from quill.fhir.sqlsearch import _upper

R = FhirResourceRow.__table__.c
IX = FhirSearchIndexRow.__table__.c


@dataclass(frozen=True)
class PatientQuery:
    """``only_ids``: a one-column subquery of allowed ids, or None for every patient.
    ``exclude_ids``: ids to leave out (e.g. inactive records). ``after``: keyset position
    (patient id). ``name_prefix`` / ``identifier``: the optional text search."""

    limit: int
    only_ids: Select[Any] | None = None
    exclude_ids: Select[Any] | None = None
    after: str | None = None
    name_prefix: str | None = None
    identifier: str | None = None


def _matching(param: str, value: str, prefix: bool) -> Select[Any]:
    condition = (IX.value >= value) & (IX.value < _upper(value)) if prefix else IX.value == value
    return select(IX.resource_pk).where(IX.resource_type == "Patient", IX.param == param,
                                        condition)


def patient_page_query(query: PatientQuery) -> Select[Any]:
    """The page (plus one row, to tell whether more follow), ordered by patient id."""
    where = [R.resource_type == "Patient", R.deleted.is_(False)]
    if query.only_ids is not None:
        where.append(R.resource_id.in_(query.only_ids))
    if query.exclude_ids is not None:
        where.append(R.resource_id.not_in(query.exclude_ids))
    if query.after is not None:
        where.append(R.resource_id > query.after)
    if query.name_prefix:
        where.append(R.pk.in_(_matching("name", normalise(query.name_prefix), prefix=True)))
    if query.identifier:
        where.append(R.pk.in_(_matching("identifier", query.identifier, prefix=False)))
    return (select(R.resource_id, R.content).where(*where).order_by(R.resource_id)
            .limit(query.limit + 1))


async def list_patients(db: AsyncSession, query: PatientQuery) -> list[Resource]:
    rows = (await db.execute(patient_page_query(query))).all()
    return [dict(row.content) for row in rows if row.content is not None]
