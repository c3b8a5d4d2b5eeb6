"""The FHIR port: what the rest of Quill may ask of a FHIR store, and its value types.

Resources travel as plain FHIR JSON dictionaries (``Resource``); every implementation
validates them with the ``fhir.resources`` R4B models before storing and fills
``meta.versionId`` / ``meta.lastUpdated``.
"""

from __future__ import annotations

import re
from collections.abc import AsyncIterator, Mapping, Sequence
from dataclasses import dataclass
from datetime import UTC, datetime
from typing import Any, Literal, Protocol

from sqlalchemy import Select
from sqlalchemy.ext.asyncio import AsyncSession

from quill.errors import Invalid, NotFound

Resource = dict[str, Any]
SearchParams = Mapping[str, str | Sequence[str]]
# A FHIR id (R4 datatype "id"); request schemas use the anchored pattern.
FHIR_ID_PATTERN = r"^[A-Za-z0-9\-.]{1,64}$"
_ID = re.compile(r"[A-Za-z0-9\-.]{1,64}")


@dataclass(frozen=True)
class SearchPage:
    """One page of search results. ``next_cursor`` is opaque; pass it back to get more."""

    resources: list[Resource]
    total: int | None
    next_cursor: str | None = None


@dataclass(frozen=True)
class HistoryEntry:
    version_id: str
    last_updated: datetime | None
    method: Literal["POST", "PUT", "DELETE"]
    resource: Resource | None  # None for a deletion


@dataclass(frozen=True)
class Create:
    """Create with a server-assigned id.

    ``full_url`` is the entry's placeholder (``urn:uuid:...``): other entries of the same
    transaction may reference it and get the assigned ``Type/id`` instead.
    ``if_none_exist`` (search parameters, ``identifier=sys|val``) makes it conditional: one
    match is returned without a write, several fail the transaction with 412.
    """

    resource: Resource
    full_url: str | None = None
    if_none_exist: str | None = None


@dataclass(frozen=True)
class Put:
    """Create-or-update at the resource's own (client-assigned) id."""

    resource: Resource
    expected_version: str | None = None
    full_url: str | None = None


@dataclass(frozen=True)
class ConditionalPut:
    """Update the one resource ``criteria`` (search parameters) match; create when none
    does; 412 when several do."""

    resource: Resource
    criteria: str
    full_url: str | None = None


@dataclass(frozen=True)
class Delete:
    resource_type: str
    resource_id: str


@dataclass(frozen=True)
class ConditionalDelete:
    """Delete the one resource ``criteria`` match (nothing when none does; 412 if several)."""

    resource_type: str
    criteria: str


TransactionEntry = Create | Put | ConditionalPut | Delete | ConditionalDelete


@dataclass(frozen=True)
class TransactionResult:
    """Per entry: the stored resource (None for a delete) and whether it was created.
    ``written`` is False when a conditional create found its match and wrote nothing."""

    resource: Resource | None
    created: bool = False
    written: bool = True


class FhirStore(Protocol):
    async def create(self, resource: Resource) -> Resource:
        """Store a new resource under a server-assigned id; returns it with id and meta."""
        ...

    async def read(self, resource_type: str, resource_id: str) -> Resource:
        """The current version; Gone (a NotFound) when deleted, NotFound when it never
        existed."""
        ...

    async def vread(self, resource_type: str, resource_id: str, version_id: str) -> Resource:
        """One version; Gone when that version is the deletion, NotFound when absent."""
        ...

    async def update(self, resource: Resource, *, expected_version: str | None = None
                     ) -> Resource:
        """Create-or-update at ``resource["id"]``. With ``expected_version`` the stored version
        must match (else PreconditionFailed). meta.versionId == "1" means it was created."""
        ...

    async def delete(self, resource_type: str, resource_id: str) -> None:
        """Delete (idempotent: deleting a missing resource is not an error)."""
        ...

    async def search(self, resource_type: str, params: SearchParams | None = None, *,
                     count: int | None = None, cursor: str | None = None,
                     total: bool = True) -> SearchPage:
        """One page of matches. ``total=False``: the caller does not read ``SearchPage.total``,
        so a store may leave it None rather than count the matches."""
        ...

    async def history(self, resource_type: str, resource_id: str) -> list[HistoryEntry]:
        """Every version, newest first; NotFound when the resource never existed."""
        ...

    async def transaction(self, entries: Sequence[TransactionEntry]
                          ) -> list[TransactionResult]:
        """All entries or none. The embedded store joins the caller's session transaction."""
        ...


@dataclass(frozen=True)
class PatientSelection:
    """Which Patients one page of a listing holds, in patient-id order.

    ``allowed``: one-column selects of the patient ids that may be listed, run in the app
    database (each best served by an index in id order), or None for every patient.
    ``excluded``: a one-column select of ids to leave out. ``name_prefix`` / ``identifier``:
    the optional text search. ``cursor``: opaque, the ``next_cursor`` of the previous page.
    """

    limit: int
    allowed: Sequence[Select[Any]] | None = None
    excluded: Select[Any] | None = None
    name_prefix: str | None = None
    identifier: str | None = None
    cursor: str | None = None


@dataclass(frozen=True)
class PatientListPage:
    patients: list[Resource]
    next_cursor: str | None = None


class PatientLister(Protocol):
    async def list_patients(self, selection: PatientSelection) -> PatientListPage:
        """One page; Invalid for a cursor that no page of this kind of lister handed out."""
        ...


class FhirGateway(Protocol):
    """What the runtime holds: hands out a store bound to the caller's DB session.

    The embedded store works inside that session (so FHIR writes and SQL rows commit
    together); an external server ignores it.
    """

    external: bool

    def store(self, db: AsyncSession) -> FhirStore: ...

    def patient_lister(self, db: AsyncSession, store: FhirStore) -> PatientLister:
        """The way this kind of store lists Patients restricted to ids held in ``db``.

        ``store`` is one this gateway handed out for ``db``: whatever the lister asks of
        the store goes through it, so wrappers (timing) see those calls too.
        """
        ...

    async def ping(self) -> bool: ...

    async def aclose(self) -> None: ...


def fhir_instant(moment: datetime) -> str:
    """A FHIR instant in UTC with milliseconds, as the stores write meta.lastUpdated."""
    return moment.astimezone(UTC).isoformat(timespec="milliseconds").replace("+00:00", "Z")


def is_valid_id(resource_id: str) -> bool:
    return bool(_ID.fullmatch(resource_id))


def check_id(resource_id: str) -> str:
    if not _ID.fullmatch(resource_id):
        raise Invalid(f"Invalid FHIR id: {resource_id[:80]!r}")
    return resource_id


def reference(resource_type: str, resource_id: str) -> str:
    """``reference("Patient", "123") == "Patient/123"``."""
    return f"{resource_type}/{check_id(resource_id)}"


def reference_to(resource: Resource) -> dict[str, str]:
    """A FHIR Reference element pointing at a stored resource."""
    return {"reference": reference(str(resource["resourceType"]), str(resource["id"]))}


def split_reference(value: str) -> tuple[str | None, str]:
    """``"Patient/123"`` → ("Patient", "123"); absolute URLs and ``_history`` suffixes are
    reduced to type and id; a bare id gives (None, id)."""
    parts = [part for part in value.split("/") if part]
    if len(parts) >= 4 and parts[-2] == "_history":
        parts = parts[:-2]
    if len(parts) >= 2:
        return parts[-2], parts[-1]
    return None, value


def version_of(resource: Resource) -> str | None:
    meta = resource.get("meta")
    if isinstance(meta, dict) and meta.get("versionId") is not None:
        return str(meta["versionId"])
    return None


def etag(version_id: str) -> str:
    return f'W/"{version_id}"'


def parse_etag(value: str) -> str:
    """``W/"3"`` (or ``"3"`` or ``3``) → ``"3"``."""
    text = value.strip()
    if text.startswith("W/"):
        text = text[2:]
    return text.strip('"')


async def iter_search(store: FhirStore, resource_type: str, params: SearchParams | None = None,
                      *, page_size: int | None = None) -> AsyncIterator[Resource]:
    """Every match, following the cursor page by page (for rebuilds and exports)."""
    cursor: str | None = None
    while True:
        page = await store.search(resource_type, params, count=page_size, cursor=cursor)
        for resource in page.resources:
            yield resource
        if page.next_cursor is None or not page.resources:
            return
        cursor = page.next_cursor


async def existing_patient(store: FhirStore, patient_id: str) -> Resource:
    """The stored Patient, or NotFound for an unknown (or impossible) id."""
    if not is_valid_id(patient_id):
        raise NotFound("Patient not found")
    try:
        return await store.read("Patient", patient_id)
    except NotFound:
        raise NotFound("Patient not found") from None
