"""The embedded FHIR store: resources in the app database, inside the caller's session.

The store never commits: the request (or whoever owns the session) does, so FHIR writes
and any SQL rows written alongside them land in one transaction.
"""

from __future__ import annotations

import copy
from collections.abc import Sequence
from dataclasses import dataclass
from datetime import UTC, datetime
from functools import lru_cache
from typing import Any, Literal

from sqlalchemy import Select, Table, and_, bindparam, delete, insert, or_, select
from sqlalchemy.exc import IntegrityError
from sqlalchemy.ext.asyncio import AsyncSession, async_sessionmaker

from quill.clock import Clock, IdSource
from quill.db.session import database_answers
from quill.errors import Conflict, Gone, Invalid, NotFound, PreconditionFailed
from quill.fhir.conditional import single_match, update_target
from quill.fhir.models import FhirResourceRow, FhirSearchIndexRow, FhirVersionRow
from quill.fhir.patient_listing import SqlPatientLister
from quill.fhir.placeholders import check_full_urls, resolve_placeholders
from quill.fhir.port import (
    ConditionalDelete,
    ConditionalPut,
    Create,
    Delete,
    FhirStore,
    HistoryEntry,
    PatientLister,
    Put,
    Resource,
    SearchPage,
    SearchParams,
    TransactionEntry,
    TransactionResult,
    check_id,
    fhir_instant,
    is_valid_id,
)
from quill.fhir.query import parse_search
from quill.fhir.references import local_references
from quill.fhir.searchparams import SUPPORTED_TYPES, index_values
from quill.fhir.sqlsearch import (
    Keyset,
    SearchShape,
    count_statement,
    page_statement,
    search_shape,
)
from quill.fhir.validation import check_type, invalid_resource, validate_for_write

Method = Literal["POST", "PUT", "DELETE"]
# Reads select plain rows (no ORM entity, so no identity-map copy to protect) with a
# statement built once. Every write of this store flushes before it returns, so these
# Core selects see the session's own writes.
_RESOURCES: Table = FhirResourceRow.__table__  # type: ignore[assignment]  # a declarative Table
R = _RESOURCES.c
_CURRENT_CONTENT = select(R.deleted, R.content).where(
    R.resource_type == bindparam("resource_type"), R.resource_id == bindparam("resource_id"))


# The write path's statements, built once. Core inserts into the tables: the rows are
# never needed as entities in the session that writes them.
_INSERT_RESOURCE = insert(_RESOURCES).returning(_RESOURCES.c.pk)
_INSERT_VERSION = insert(FhirVersionRow.__table__)  # type: ignore[arg-type]
_INSERT_INDEX = insert(FhirSearchIndexRow.__table__)  # type: ignore[arg-type]


def _version_number(version_id: str) -> int:
    if not version_id.isdigit() or len(version_id) > 9:
        raise NotFound("Unknown version")
    return int(version_id)


class EmbeddedFhirStore:
    def __init__(self, db: AsyncSession, clock: Clock, ids: IdSource) -> None:
        self._db = db
        self._clock = clock
        self._ids = ids

    def _now(self) -> datetime:
        now = self._clock.now().astimezone(UTC)
        # Millisecond precision: what meta.lastUpdated carries is exactly what is stored.
        return now.replace(microsecond=now.microsecond // 1000 * 1000)

    async def _current(self, resource_type: str, resource_id: str, *, lock: bool = False
                       ) -> FhirResourceRow | None:
        if not is_valid_id(resource_id):
            return None  # nothing can be stored under an id FHIR does not allow
        query = select(FhirResourceRow).where(FhirResourceRow.resource_type == resource_type,
                                              FhirResourceRow.resource_id == resource_id)
        if lock:
            query = query.with_for_update()
        return (await self._db.execute(query)).scalar_one_or_none()

    async def _write(self, resource: Resource, resource_id: str, row: FhirResourceRow | None,
                     method: Method) -> Resource:
        now = self._now()
        version = 1 if row is None else row.version_id + 1
        meta = dict(resource.get("meta") or {})
        meta.update(versionId=str(version), lastUpdated=fhir_instant(now))
        stored = {"resourceType": resource["resourceType"], **resource, "id": resource_id,
                  "meta": meta}
        if row is None:
            # A Core insert: nothing else in the request needs the new row as an entity.
            try:
                pk = (await self._db.execute(_INSERT_RESOURCE, {
                    "resource_type": stored["resourceType"], "resource_id": resource_id,
                    "version_id": 1, "last_updated": now, "deleted": False,
                    "content": stored})).scalar_one()
            except IntegrityError as exc:
                raise Conflict(f"{stored['resourceType']}/{resource_id} already exists") from exc
        else:
            pk = row.pk
            row.version_id, row.last_updated = version, now
            row.deleted, row.content = False, stored
            await self._db.execute(delete(FhirSearchIndexRow)
                                   .where(FhirSearchIndexRow.resource_pk == row.pk))
        await self._add_version(pk, version, now, method, stored)
        await self._index(pk, stored)
        return copy.deepcopy(stored)

    async def _add_version(self, pk: int, version: int, last_updated: datetime, method: Method,
                           content: Resource | None) -> None:
        await self._db.execute(_INSERT_VERSION, {
            "resource_pk": pk, "version_id": version, "last_updated": last_updated,
            "method": method, "content": content})

    async def _index(self, pk: int, resource: Resource) -> None:
        # Every row names every column (None where a value has none), so the rows go as
        # one batch rather than one statement per distinct set of columns.
        rows = [{"resource_pk": pk, "resource_type": resource["resourceType"], "param": name,
                 "system": v.system, "value": v.value, "low": v.low, "high": v.high}
                for name, v in index_values(resource)]
        if rows:
            await self._db.execute(_INSERT_INDEX, rows)

    async def _check_references(self, resource: Resource) -> None:
        """Referential integrity: every local reference names a stored, undeleted resource."""
        _refuse_missing(resource, (await self._lookup(resource)).missing)

    async def _lookup(self, resource: Resource, target: tuple[str, str] | None = None
                      ) -> _Lookup:
        """In one statement: which of the resource's local references name no stored,
        undeleted resource, and whether ``target`` (type, id) has a row at all."""
        wanted: dict[str, set[str]] = {}
        for kind, ident in local_references(resource):
            wanted.setdefault(kind, set()).add(ident)
        # Types Quill does not store are never asked for: their references are missing.
        asked = sorted(kind for kind in wanted if kind in SUPPORTED_TYPES)
        rows: list[Any] = []
        if asked or target is not None:
            params: dict[str, Any] = {"target_type": None, "target_id": None}
            for number, kind in enumerate(asked):
                params[f"type_{number}"], params[f"ids_{number}"] = kind, sorted(wanted[kind])
            if target is not None:
                params["target_type"], params["target_id"] = target
            rows = list((await self._db.execute(
                _lookup_query(len(asked), target is not None), params)).all())
        present = {(kind, ident) for kind, ident, deleted in rows if not deleted}
        return _Lookup(
            missing=[f"{kind}/{ident}" for kind, idents in sorted(wanted.items())
                     for ident in sorted(idents) if (kind, ident) not in present],
            target_exists=any((kind, ident) == target for kind, ident, _ in rows))

    async def create(self, resource: Resource) -> Resource:
        validate_for_write(resource)
        await self._check_references(resource)
        return await self._write(resource, self._ids.new_id(), None, "POST")

    async def read(self, resource_type: str, resource_id: str) -> Resource:
        check_type(resource_type)
        row = None
        if is_valid_id(resource_id):  # nothing can be stored under an id FHIR does not allow
            row = (await self._db.execute(_CURRENT_CONTENT, {
                "resource_type": resource_type, "resource_id": resource_id})).one_or_none()
        if row is None:
            raise NotFound(f"{resource_type}/{resource_id[:64]} not found")
        if row.deleted or row.content is None:
            raise Gone(f"{resource_type}/{resource_id[:64]} was deleted")
        # Decoded from the row just now: the caller's own copy.
        content: Resource = row.content
        return content

    async def vread(self, resource_type: str, resource_id: str, version_id: str) -> Resource:
        check_type(resource_type)
        number = _version_number(version_id)
        if not is_valid_id(resource_id):
            raise NotFound(f"{resource_type}/{resource_id[:64]} not found")
        query = (select(FhirVersionRow.method, FhirVersionRow.content).join(
            FhirResourceRow, FhirResourceRow.pk == FhirVersionRow.resource_pk)
            .where(FhirResourceRow.resource_type == resource_type,
                   FhirResourceRow.resource_id == resource_id,
                   FhirVersionRow.version_id == number))
        found = (await self._db.execute(query)).one_or_none()
        if found is None:
            raise NotFound(f"{resource_type}/{resource_id[:64]} version {number} not found")
        if found.content is None:
            raise Gone(f"{resource_type}/{resource_id[:64]} version {number} is its deletion")
        result: Resource = copy.deepcopy(found.content)
        return result

    async def update(self, resource: Resource, *, expected_version: str | None = None
                     ) -> Resource:
        validate_for_write(resource)
        resource_id = resource.get("id")
        if not isinstance(resource_id, str):
            raise Invalid("An update needs the resource id")
        check_id(resource_id)
        kind = str(resource["resourceType"])
        # An update at a new id (every message's Communication) needs no second statement:
        # only a row that exists is read again, locked.
        lookup = await self._lookup(resource, (kind, resource_id))
        row = await self._current(kind, resource_id, lock=True) if lookup.target_exists \
            else None
        if expected_version is not None:
            current = None if row is None or row.deleted else str(row.version_id)
            if current != expected_version:
                raise PreconditionFailed({"message": "Version mismatch",
                                          "error_code": "version_conflict",
                                          "current_version": current})
        _refuse_missing(resource, lookup.missing)
        return await self._write(resource, resource_id, row, "PUT")

    async def delete(self, resource_type: str, resource_id: str) -> None:
        check_type(resource_type)
        row = await self._current(resource_type, resource_id, lock=True)
        if row is None or row.deleted:
            return
        row.version_id += 1
        row.last_updated, row.deleted, row.content = self._now(), True, None
        await self._db.execute(delete(FhirSearchIndexRow)
                               .where(FhirSearchIndexRow.resource_pk == row.pk))
        await self._add_version(row.pk, row.version_id, row.last_updated, "DELETE", None)

    async def search(self, resource_type: str, params: SearchParams | None = None, *,
                     count: int | None = None, cursor: str | None = None,
                     total: bool = True) -> SearchPage:
        check_type(resource_type)
        parsed = parse_search(resource_type, params, count)
        keyset = Keyset.decode(cursor) if cursor else None
        shape, values = search_shape(resource_type, parsed, keyset)
        if parsed.count == 0:
            return SearchPage([], await self._total(shape, values), None)
        rows = (await self._db.execute(page_statement(shape), values)).all()
        page = rows[: parsed.count]
        next_cursor = None
        if len(rows) > parsed.count:
            last = page[-1]
            next_cursor = Keyset(last.last_updated, last.pk, shape.descending).encode()
        # Plain rows, decoded just now: each resource is the caller's own copy.
        resources = [r.content for r in page]
        if not total:
            return SearchPage(resources, None, next_cursor)
        # A first page that holds every match is its own total: no count statement.
        if keyset is None and next_cursor is None:
            return SearchPage(resources, len(page), next_cursor)
        return SearchPage(resources, await self._total(shape, values), next_cursor)

    async def _total(self, shape: SearchShape, values: dict[str, Any]) -> int:
        return int((await self._db.execute(count_statement(shape), values)).scalar_one())

    async def history(self, resource_type: str, resource_id: str) -> list[HistoryEntry]:
        check_type(resource_type)
        row = await self._current(resource_type, resource_id)
        if row is None:
            raise NotFound(f"{resource_type}/{resource_id[:64]} not found")
        query = (select(FhirVersionRow).where(FhirVersionRow.resource_pk == row.pk)
                 .order_by(FhirVersionRow.version_id.desc()))
        versions = (await self._db.execute(query)).scalars().all()
        return [HistoryEntry(str(v.version_id), v.last_updated, _method(v.method),
                             copy.deepcopy(v.content)) for v in versions]

    async def transaction(self, entries: Sequence[TransactionEntry]
                          ) -> list[TransactionResult]:
        for entry in entries:
            if isinstance(entry, Create | Put | ConditionalPut):
                validate_for_write(entry.resource)
        check_full_urls(e.full_url for e in entries if isinstance(e, Create | Put | ConditionalPut))
        # A savepoint: a failing entry undoes the earlier ones even if the caller goes on.
        async with self._db.begin_nested():
            return await self._run(entries)

    async def _run(self, entries: Sequence[TransactionEntry]) -> list[TransactionResult]:
        """R4 order (deletes, then creates, then updates); answers in the Bundle's order.
        Every write's id is fixed before any resource is stored, so each placeholder
        reference can be rewritten to the ``Type/id`` its entry gets."""
        results: dict[int, TransactionResult] = {}
        for index, entry in enumerate(entries):
            if isinstance(entry, Delete | ConditionalDelete):
                await self._apply_delete(entry)
                results[index] = TransactionResult(None)
        plans: dict[int, _Plan] = {}
        aliases: dict[str, str] = {}
        for index, entry in enumerate(entries):
            if isinstance(entry, Create | Put | ConditionalPut):
                plans[index] = plan = await self._plan(entry)
                if entry.full_url is not None:
                    aliases[entry.full_url] = f"{entry.resource['resourceType']}/{plan.resource_id}"
        for index in sorted(plans, key=lambda i: not isinstance(entries[i], Create)):
            results[index] = await self._execute(plans[index], aliases)
        # Referential integrity once every create is stored: an entry may point at one the
        # Bundle creates after it. (Updates check theirs as they are written.)
        for index, plan in plans.items():
            stored = results[index].resource
            if plan.new and stored is not None:
                await self._check_references(stored)
        return [results[index] for index in range(len(entries))]

    async def _apply_delete(self, entry: Delete | ConditionalDelete) -> None:
        if isinstance(entry, Delete):
            await self.delete(entry.resource_type, entry.resource_id)
            return
        match = await single_match(self, entry.resource_type, entry.criteria)
        if match is not None:
            await self.delete(entry.resource_type, str(match["id"]))

    async def _plan(self, entry: Create | Put | ConditionalPut) -> _Plan:
        if isinstance(entry, Put):
            resource_id = entry.resource.get("id")
            if not isinstance(resource_id, str):
                raise Invalid("An update needs the resource id")
            return _Plan(entry.resource, check_id(resource_id), entry.expected_version)
        if isinstance(entry, ConditionalPut):
            target = await update_target(self, entry.resource, entry.criteria)
            if target.resource_id is None:
                return _Plan(entry.resource, self._ids.new_id(), new=True)
            return _Plan(entry.resource, target.resource_id, target.expected_version)
        if entry.if_none_exist is not None:
            match = await single_match(self, entry.resource["resourceType"],
                                       entry.if_none_exist)
            if match is not None:
                return _Plan(entry.resource, str(match["id"]), existing=match)
        return _Plan(entry.resource, self._ids.new_id(), new=True)

    async def _execute(self, plan: _Plan, aliases: dict[str, str]) -> TransactionResult:
        if plan.existing is not None:
            return TransactionResult(plan.existing, created=False, written=False)
        resource = resolve_placeholders(plan.resource, aliases)
        if plan.new:
            return TransactionResult(await self._write(resource, plan.resource_id, None,
                                                       "POST"), created=True)
        stored = await self.update({**resource, "id": plan.resource_id},
                                   expected_version=plan.expected_version)
        return TransactionResult(stored, created=stored["meta"]["versionId"] == "1")


@lru_cache(maxsize=64)
def _lookup_query(kinds: int, with_target: bool) -> Select[Any]:
    """``_lookup``'s statement, built once per shape: ``kinds`` referenced types, each
    with its list of ids (one index range per type, where a row-value IN would scan), and
    the written resource's own (type, id)."""
    columns = R
    asked = [and_(columns.resource_type == bindparam(f"type_{number}"),
                  columns.resource_id.in_(bindparam(f"ids_{number}", expanding=True)),
                  columns.deleted.is_(False))
             for number in range(kinds)]
    if with_target:
        asked.append(and_(columns.resource_type == bindparam("target_type"),
                          columns.resource_id == bindparam("target_id")))
    return select(columns.resource_type, columns.resource_id, columns.deleted
                  ).where(or_(*asked))


@dataclass(frozen=True)
class _Lookup:
    missing: list[str]  # "Type/id" of each local reference to nothing stored
    target_exists: bool


def _refuse_missing(resource: Resource, missing: list[str]) -> None:
    if missing:
        raise invalid_resource(str(resource["resourceType"]), [
            f"reference {ref} does not point at a stored resource" for ref in missing])


@dataclass(frozen=True)
class _Plan:
    """One write of a transaction, decided before any is made."""

    resource: Resource
    resource_id: str
    expected_version: str | None = None
    new: bool = False  # a create under a fresh server id
    existing: Resource | None = None  # a conditional create's match: nothing is written


def _method(value: str) -> Method:
    if value == "POST":
        return "POST"
    return "DELETE" if value == "DELETE" else "PUT"


class EmbeddedFhirGateway:
    """Hands out embedded stores bound to a session; the database is the FHIR server."""

    external = False

    def __init__(self, clock: Clock, ids: IdSource,
                 session_factory: async_sessionmaker[AsyncSession]) -> None:
        self._clock = clock
        self._ids = ids
        self._sessions = session_factory

    def store(self, db: AsyncSession) -> FhirStore:
        return EmbeddedFhirStore(db, self._clock, self._ids)

    def patient_lister(self, db: AsyncSession, store: FhirStore) -> PatientLister:
        # The FHIR rows live in ``db``: one statement joins them with the allowed ids.
        return SqlPatientLister(db)

    async def ping(self) -> bool:
        # The embedded store answers whenever the database does.
        return await database_answers(self._sessions)

    async def aclose(self) -> None:
        return None

