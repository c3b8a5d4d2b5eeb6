"""Listing Patients of the embedded store restricted to a set of ids, in one SQL statement.

Callers pass the allowed ids as a few sources (the access policy's visible sources), each a
one-column select that an index returns in id order. Every source is walked in id order,
joined with the FHIR rows, and stopped after one page; the page is the first ids of their
union. So the restriction happens inside the database, and a caller who may see 50 of
100,000 patients costs the same one statement as a caller who may see all 100,000.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass
from typing import Any

from sqlalchemy import ColumnElement, CompoundSelect, Select, false, select, union
from sqlalchemy.ext.asyncio import AsyncSession

from quill.fhir.models import FhirResourceRow, FhirSearchIndexRow
from quill.fhir.port import Resource
from quill.fhir.searchparams import normalise
from quill.fhir.sqlsearch import _upper

RESOURCES = FhirResourceRow.__table__
R = RESOURCES.c
IX = FhirSearchIndexRow.__table__.c


@dataclass(frozen=True)
class PatientQuery:
    """``id_sources``: one-column selects of allowed ids (each best served by an index in id
    order), or None for every patient. ``exclude_ids``: ids to leave out (e.g. inactive
    records). ``after``: keyset position (patient id). ``name_prefix`` / ``identifier``:
    the optional text search."""

    limit: int
    id_sources: Sequence[Select[Any]] | None = None
    exclude_ids: Select[Any] | None = None
    after: str | None = None
    name_prefix: str | None = None
    identifier: str | None = None


def _matching(param: str, value: str, prefix: bool) -> Select[Any]:
    condition = (IX.value >= value) & (IX.value < _upper(value)) if prefix else IX.value == value
    return select(IX.resource_pk).where(IX.resource_type == "Patient", IX.param == param,
                                        condition)


def _row_filters(query: PatientQuery) -> list[ColumnElement[bool]]:
    where = [R.resource_type == "Patient", R.deleted.is_(False)]
    if query.exclude_ids is not None:
        where.append(R.resource_id.not_in(query.exclude_ids))
    if query.name_prefix:
        where.append(R.pk.in_(_matching("name", normalise(query.name_prefix), prefix=True)))
    if query.identifier:
        where.append(R.pk.in_(_matching("identifier", query.identifier, prefix=False)))
    return where


def _first_of(source: Select[Any], query: PatientQuery) -> Select[Any]:
    """The source's first ids (page size plus one) that are listable Patients, in id order."""
    ids = source.subquery()
    key = ids.c[0]
    where = _row_filters(query)
    if query.after is not None:
        where.append(key > query.after)  # on the source's column, so its index range starts there
    return (select(key.label("id")).join(RESOURCES, R.resource_id == key).where(*where)
            .order_by(key).limit(query.limit + 1))


def page_ids(sources: Sequence[Select[Any]], query: PatientQuery
             ) -> Select[Any] | CompoundSelect[Any]:
    """The first ids of the union of the sources' first pages (no more than a page)."""
    firsts = [select(_first_of(source, query).subquery().c.id) for source in sources]
    if not firsts:
        return select(R.resource_id).where(false())
    merged = union(*firsts) if len(firsts) > 1 else firsts[0]
    return merged.order_by(merged.selected_columns[0]).limit(query.limit + 1)


def patient_page_query(query: PatientQuery) -> Select[Any]:
    """The page (plus one row, to tell whether more follow), ordered by patient id."""
    if query.id_sources is not None:
        wanted = page_ids(query.id_sources, query)
        return (select(R.resource_id, R.content)
                .where(R.resource_type == "Patient", R.resource_id.in_(wanted))
                .order_by(R.resource_id))
    where = _row_filters(query)
    if query.after is not None:
        where.append(R.resource_id > query.after)
    return (select(R.resource_id, R.content).where(*where).order_by(R.resource_id)
            .limit(query.limit + 1))


async def list_patients(db: AsyncSession, query: PatientQuery) -> list[Resource]:
    rows = (await db.execute(patient_page_query(query))).all()
    return [dict(row.content) for row in rows if row.content is not None]
