"""GET /patients: the caller's visible patients, filtered inside the query, keyset-paged.

Embedded store: one SQL statement joins the visible ids with the FHIR tables.
External FHIR server: the visible ids come from our database in id order and are asked
for in batches (``_id=a,b,c``); admins page through the server's own search.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any

from sqlalchemy import Select, select
from sqlalchemy.ext.asyncio import AsyncSession

from quill.access.policy import visible_patient_ids, visible_patient_sources
from quill.db.keyset import decode_values, encode_values
from quill.errors import Invalid
from quill.fhir.patient_listing import PatientQuery, list_patients
from quill.fhir.port import FhirStore, Resource, SearchParams, is_valid_id
from quill.identity.caller import Caller
from quill.patients.models import PatientRecord
from quill.patients.nhs_number import normalise

# At most this many ids go into one ``_id=`` search against an external server.
ID_BATCH = 100


@dataclass(frozen=True)
class ListRequest:
    caller: Caller
    limit: int
    cursor: str | None
    q: str | None
    include_inactive: bool


@dataclass(frozen=True)
class PatientPage:
    patients: list[Resource]
    inactive: set[str]
    next_cursor: str | None


def _encode(kind: str, value: str) -> str:
    """``p``: after this patient id; ``f``: the external server's own cursor."""
    return encode_values(kind, value)


def _decode(cursor: str | None) -> tuple[str, str] | None:
    if not cursor:
        return None
    kind, value = decode_values(cursor, str, str)
    if kind not in ("p", "f") or not value:
        raise Invalid("Invalid cursor")
    return kind, value


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
        return cls(text, None)

    def params(self) -> dict[str, str]:
        if self.identifier:
            return {"identifier": self.identifier}
        return {"name": self.name_prefix} if self.name_prefix else {}


def _inactive_ids() -> Select[Any]:
    return select(PatientRecord.patient_id).where(PatientRecord.is_active.is_(False))


async def _inactive_among(db: AsyncSession, ids: list[str]) -> set[str]:
    if not ids:
        return set()
    rows = await db.execute(select(PatientRecord.patient_id).where(
        PatientRecord.patient_id.in_(ids), PatientRecord.is_active.is_(False)))
    return set(rows.scalars().all())


def _after(req: ListRequest, kind: str) -> str | None:
    decoded = _decode(req.cursor)
    if decoded is None:
        return None
    if decoded[0] != kind:
        raise Invalid("Invalid cursor")
    return decoded[1]


async def _finish(db: AsyncSession, found: list[Resource], limit: int, kind: str,
                  more: str | None = None) -> PatientPage:
    page = found[:limit]
    cursor = more
    if len(found) > limit:
        cursor = _encode(kind, str(page[-1]["id"]))
    inactive = await _inactive_among(db, [str(p["id"]) for p in page])
    return PatientPage(page, inactive, cursor)


async def list_embedded(db: AsyncSession, req: ListRequest) -> PatientPage:
    search = Search.parse(req.q)
    query = PatientQuery(
        limit=req.limit, id_sources=await visible_patient_sources(db, req.caller),
        exclude_ids=None if req.include_inactive else _inactive_ids(),
        after=_after(req, "p"), name_prefix=search.name_prefix, identifier=search.identifier)
    return await _finish(db, await list_patients(db, query), req.limit, "p")


async def _visible_id_batch(db: AsyncSession, req: ListRequest, after: str | None,
                            size: int) -> list[str]:
    visible = visible_patient_ids(req.caller)
    assert visible is not None  # noqa: S101 - admins take the server-search path
    ids = visible.subquery()
    column = ids.c[0]
    query = select(column).distinct().order_by(column).limit(size)
    if after is not None:
        query = query.where(column > after)
    if not req.include_inactive:
        query = query.where(column.not_in(_inactive_ids()))
    return [str(value) for value in (await db.execute(query)).scalars().all()]


async def list_external_visible(db: AsyncSession, store: FhirStore, req: ListRequest
                                ) -> PatientPage:
    """Ask the server only for ids the caller may see, a batch at a time, in id order."""
    params = Search.parse(req.q).params()
    after = _after(req, "p")
    found: list[Resource] = []
    while len(found) <= req.limit:
        batch = await _visible_id_batch(db, req, after, ID_BATCH)
        if not batch:
            break
        wanted = [pid for pid in batch if is_valid_id(pid)]
        if wanted:
            query: SearchParams = {**params, "_id": ",".join(wanted)}
            page = await store.search("Patient", query, count=len(wanted))
            # The database's order, not Python's: the next batch continues after it.
            position = {pid: n for n, pid in enumerate(wanted)}
            found += sorted(page.resources, key=lambda r: position.get(str(r.get("id")), 0))
        after = batch[-1]
    return await _finish(db, found, req.limit, "p")


async def list_external_all(db: AsyncSession, store: FhirStore, req: ListRequest
                            ) -> PatientPage:
    """Admins see every patient: page through the server's own search."""
    params = Search.parse(req.q).params()
    server_cursor = _after(req, "f")
    found: list[Resource] = []
    while True:
        page = await store.search("Patient", params, count=req.limit - len(found),
                                  cursor=server_cursor)
        # The cursor came from the client: whatever it points at, only Patients go out.
        resources = [r for r in page.resources if r.get("resourceType") == "Patient"]
        if not req.include_inactive:
            inactive = await _inactive_among(db, [str(r["id"]) for r in resources])
            resources = [r for r in resources if str(r["id"]) not in inactive]
        found += resources
        server_cursor = page.next_cursor
        if server_cursor is None or len(found) >= req.limit or not page.resources:
            break
    more = _encode("f", server_cursor) if server_cursor else None
    return await _finish(db, found, req.limit, "f", more)
