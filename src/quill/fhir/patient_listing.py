"""Listing Patients restricted to a set of ids, a page at a time, in patient-id order.

Callers pass the allowed ids as a few sources (the access policy's visible sources), each a
one-column select that an index returns in id order.

The embedded store (``SqlPatientLister``) answers in one SQL statement: every source is
walked in id order, joined with the FHIR rows, and stopped after one page; the page is the
first ids of their union. So the restriction happens inside the database, and a caller who
may see 50 of 100,000 patients costs the same one statement as a caller who may see all
100,000.

An external server (``SearchPatientLister``) is asked only for allowed ids, a batch at a
time (``_id=a,b,c``) in the database's id order; with no restriction it pages through the
server's own search.
"""

from __future__ import annotations

from collections.abc import Hashable, Sequence
from dataclasses import dataclass
from typing import Any

from sqlalchemy import (
    ColumnElement,
    CompoundSelect,
    Integer,
    Select,
    String,
    bindparam,
    false,
    select,
    union,
)
from sqlalchemy.ext.asyncio import AsyncSession

from quill.db.keyset import decode_values, encode_values
from quill.errors import Invalid
from quill.fhir.models import FhirResourceRow, FhirSearchIndexRow
from quill.fhir.port import (
    FhirStore,
    PatientListPage,
    PatientSelection,
    Resource,
    SearchParams,
    is_valid_id,
)
from quill.fhir.searchparams import normalise
from quill.fhir.sqlsearch import Statements, upper_bound

RESOURCES = FhirResourceRow.__table__
R = RESOURCES.c
IX = FhirSearchIndexRow.__table__.c
# At most this many ids go into one ``_id=`` search against an external server.
ID_BATCH = 100


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


# The listing's own values travel as bind parameters, so one built statement serves every
# page of the same shape (see ``_statement``).
_PAGE_SIZE = bindparam("page_size", type_=Integer)  # the limit plus one
_AFTER = bindparam("after", type_=String)
_NAME_LOW = bindparam("name_low", type_=String)
_NAME_HIGH = bindparam("name_high", type_=String)
_IDENTIFIER = bindparam("identifier", type_=String)
# Built statements kept per shape; a shape names its sources' SQL and values, so a caller
# whose organisations change gets a new one.
_STATEMENTS: Statements[Select[Any]] = Statements(512)


def _matching(param: str, condition: ColumnElement[bool]) -> Select[Any]:
    return select(IX.resource_pk).where(IX.resource_type == "Patient", IX.param == param,
                                        condition)


def _row_filters(query: PatientQuery) -> list[ColumnElement[bool]]:
    where = [R.resource_type == "Patient", R.deleted.is_(False)]
    if query.exclude_ids is not None:
        where.append(R.resource_id.not_in(query.exclude_ids))
    if query.name_prefix:
        where.append(R.pk.in_(_matching("name", (IX.value >= _NAME_LOW)
                                        & (IX.value < _NAME_HIGH))))
    if query.identifier:
        where.append(R.pk.in_(_matching("identifier", IX.value == _IDENTIFIER)))
    return where


def _first_of(source: Select[Any], query: PatientQuery) -> Select[Any]:
    """The source's first ids (page size plus one) that are listable Patients, in id order."""
    ids = source.subquery()
    key = ids.c[0]
    where = _row_filters(query)
    if query.after is not None:
        where.append(key > _AFTER)  # on the source's column, so its index range starts there
    return (select(key.label("id")).join(RESOURCES, R.resource_id == key).where(*where)
            .order_by(key).limit(_PAGE_SIZE))


def page_ids(sources: Sequence[Select[Any]], query: PatientQuery
             ) -> Select[Any] | CompoundSelect[Any]:
    """The first ids of the union of the sources' first pages (no more than a page)."""
    firsts = [select(_first_of(source, query).subquery().c.id) for source in sources]
    if not firsts:
        return select(R.resource_id).where(false())
    merged = union(*firsts) if len(firsts) > 1 else firsts[0]
    return merged.order_by(merged.selected_columns[0]).limit(_PAGE_SIZE)


def _build(query: PatientQuery) -> Select[Any]:
    if query.id_sources is not None:
        wanted = page_ids(query.id_sources, query)
        return (select(R.resource_id, R.content)
                .where(R.resource_type == "Patient", R.resource_id.in_(wanted))
                .order_by(R.resource_id))
    where = _row_filters(query)
    if query.after is not None:
        where.append(R.resource_id > _AFTER)
    return (select(R.resource_id, R.content).where(*where).order_by(R.resource_id)
            .limit(_PAGE_SIZE))


def _identity(statement: Select[Any] | None) -> Hashable:
    """What a source selects, values included; None when SQLAlchemy cannot tell."""
    if statement is None:
        return ()
    # SQLAlchemy's own key for its statement cache: the SQL and, apart, its values.
    key = statement._generate_cache_key()
    if key is None:
        return None
    identity = key.key, tuple(param.effective_value for param in key.bindparams)
    try:
        hash(identity)
    except TypeError:  # e.g. a list of values: build that statement each time instead
        return None
    return identity


def _shape(query: PatientQuery) -> Hashable | None:
    """What the built statement depends on; None when some source cannot be told apart."""
    parts = [_identity(query.exclude_ids)]
    if query.id_sources is not None:
        parts += [_identity(source) for source in query.id_sources]
    if any(part is None for part in parts):
        return None
    return (query.id_sources is None, *parts, query.after is not None,
            bool(query.name_prefix), bool(query.identifier))


def _values(query: PatientQuery) -> dict[str, Any]:
    values: dict[str, Any] = {"page_size": query.limit + 1}
    if query.after is not None:
        values["after"] = query.after
    if query.name_prefix:
        prefix = normalise(query.name_prefix)
        values.update(name_low=prefix, name_high=upper_bound(prefix))
    if query.identifier:
        values["identifier"] = query.identifier
    return values


def _statement(query: PatientQuery) -> tuple[Select[Any], dict[str, Any]]:
    """The page's statement, built once per shape (building and keying a union of
    per-source subqueries cost more than the rest of a listing), and its values."""
    shape = _shape(query)
    if shape is None:
        return _build(query), _values(query)
    return _STATEMENTS.get(shape, lambda: _build(query)), _values(query)


def patient_page_query(query: PatientQuery) -> Select[Any]:
    """The page (plus one row, to tell whether more follow), ordered by patient id."""
    statement, values = _statement(query)
    return statement.params(values)


async def list_patients(db: AsyncSession, query: PatientQuery) -> list[Resource]:
    statement, values = _statement(query)
    rows = (await db.execute(statement, values)).all()
    # Plain rows, decoded for this call: the resources are the caller's own.
    return [row.content for row in rows if row.content is not None]


def _encode(kind: str, value: str) -> str:
    """``p``: after this patient id; ``f``: the external server's own cursor."""
    return encode_values(kind, value)


def _after(cursor: str | None, kind: str) -> str | None:
    """The position a cursor of this kind holds; Invalid for any other cursor."""
    if not cursor:
        return None
    found, value = decode_values(cursor, str, str)
    if found != kind or not value:
        raise Invalid("Invalid cursor")
    return str(value)


def _page(found: list[Resource], limit: int, kind: str, more: str | None = None
          ) -> PatientListPage:
    page = found[:limit]
    if len(found) > limit:
        more = _encode(kind, str(page[-1]["id"]))
    return PatientListPage(page, more)


class SqlPatientLister:
    """The embedded store's listing: one statement over the FHIR tables in ``db``."""

    def __init__(self, db: AsyncSession) -> None:
        self._db = db

    async def list_patients(self, selection: PatientSelection) -> PatientListPage:
        query = PatientQuery(
            limit=selection.limit, id_sources=selection.allowed,
            exclude_ids=selection.excluded, after=_after(selection.cursor, "p"),
            name_prefix=selection.name_prefix, identifier=selection.identifier)
        return _page(await list_patients(self._db, query), selection.limit, "p")


def _search_params(selection: PatientSelection) -> dict[str, str]:
    if selection.identifier:
        return {"identifier": selection.identifier}
    return {"name": selection.name_prefix} if selection.name_prefix else {}


class SearchPatientLister:
    """Any store's listing through its search: the allowed ids come from ``db``."""

    def __init__(self, db: AsyncSession, store: FhirStore) -> None:
        self._db = db
        self._store = store

    async def list_patients(self, selection: PatientSelection) -> PatientListPage:
        if selection.allowed is None:
            return await self._list_all(selection)
        return await self._list_allowed(selection, selection.allowed)

    async def _allowed_batch(self, sources: Sequence[Select[Any]], selection: PatientSelection,
                             after: str | None) -> list[str]:
        merged = union(*sources) if len(sources) > 1 else sources[0]
        column = merged.subquery().c[0]
        query = select(column).distinct().order_by(column).limit(ID_BATCH)
        if after is not None:
            query = query.where(column > after)
        if selection.excluded is not None:
            query = query.where(column.not_in(selection.excluded))
        return [str(value) for value in (await self._db.execute(query)).scalars().all()]

    async def _list_allowed(self, selection: PatientSelection, sources: Sequence[Select[Any]]
                            ) -> PatientListPage:
        """Ask the server only for allowed ids, a batch at a time, in id order."""
        params = _search_params(selection)
        after = _after(selection.cursor, "p")
        found: list[Resource] = []
        while sources and len(found) <= selection.limit:
            batch = await self._allowed_batch(sources, selection, after)
            if not batch:
                break
            wanted = [pid for pid in batch if is_valid_id(pid)]
            if wanted:
                query: SearchParams = {**params, "_id": ",".join(wanted)}
                page = await self._store.search("Patient", query, count=len(wanted))
                # The database's order, not Python's: the next batch continues after it.
                position = {pid: n for n, pid in enumerate(wanted)}
                found += sorted(page.resources,
                                key=lambda r: position.get(str(r.get("id")), 0))
            after = batch[-1]
        return _page(found, selection.limit, "p")

    async def _excluded_among(self, selection: PatientSelection, ids: list[str]) -> set[str]:
        if selection.excluded is None or not ids:
            return set()
        column = selection.excluded.subquery().c[0]
        rows = await self._db.execute(select(column).where(column.in_(ids)))
        return {str(value) for value in rows.scalars().all()}

    async def _list_all(self, selection: PatientSelection) -> PatientListPage:
        """Every patient: page through the server's own search."""
        params = _search_params(selection)
        server_cursor = _after(selection.cursor, "f")
        found: list[Resource] = []
        while True:
            page = await self._store.search("Patient", params,
                                            count=selection.limit - len(found),
                                            cursor=server_cursor)
            # The cursor came from the client: whatever it points at, only Patients go out.
            resources = [r for r in page.resources if r.get("resourceType") == "Patient"]
            excluded = await self._excluded_among(selection, [str(r["id"]) for r in resources])
            found += [r for r in resources if str(r["id"]) not in excluded]
            server_cursor = page.next_cursor
            if server_cursor is None or len(found) >= selection.limit or not page.resources:
                break
        more = _encode("f", server_cursor) if server_cursor else None
        return _page(found, selection.limit, "f", more)
