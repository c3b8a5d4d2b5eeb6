"""The CompositionStore port: what Quill needs from an openEHR server, and nothing more.

Two implementations honour it: ``EmbeddedCompositionStore`` (tables in the app database)
and ``EhrbaseCompositionStore`` (the EHRbase 2.x REST API). One contract suite runs both.
"""

from __future__ import annotations

from dataclasses import dataclass
from datetime import UTC, datetime
from typing import Any, Protocol

from sqlalchemy.ext.asyncio import AsyncSession

from quill.db.keyset import decode_values, encode_values
from quill.errors import Invalid

Composition = dict[str, Any]
"""A COMPOSITION in openEHR canonical JSON."""

MAX_PAGE = 200


@dataclass(frozen=True)
class VersionUid:
    """``<object uuid>::<system id>::<version>``, the openEHR OBJECT_VERSION_ID."""

    object_id: str
    system_id: str
    version: int

    def __str__(self) -> str:
        return f"{self.object_id}::{self.system_id}::{self.version}"

    @classmethod
    def parse(cls, value: str) -> VersionUid:
        parts = value.split("::")
        if len(parts) != 3 or not parts[0] or not parts[1] or not parts[2].isdigit():
            raise Invalid("Not a versioned composition uid")
        return cls(parts[0], parts[1], int(parts[2]))


def object_id_of(uid: str) -> str:
    """The versioned object id of either a bare object id or a full version uid."""
    return uid.split("::", 1)[0]


@dataclass(frozen=True)
class StoredComposition:
    uid: VersionUid
    data: Composition


@dataclass(frozen=True)
class CompositionSummary:
    """One row of a list: enough to show a composition without reading it."""

    uid: VersionUid
    name: str
    composer_name: str | None
    start_time: datetime


@dataclass(frozen=True)
class CompositionPage:
    items: list[CompositionSummary]
    next_cursor: str | None


class CompositionStore(Protocol):
    async def ensure_ehr(self, subject_id: str, namespace: str) -> str:
        """The EHR id for the subject, creating the EHR on first use."""
        ...

    async def find_ehr(self, subject_id: str, namespace: str) -> str | None:
        """The EHR id for the subject, or None when it has no EHR yet."""
        ...

    async def create_composition(self, ehr_id: str, composition: Composition) -> VersionUid:
        """Commit a new composition (version 1). NotFound for an unknown EHR."""
        ...

    async def read_composition(self, ehr_id: str, uid: str) -> StoredComposition:
        """The latest version (bare object id) or that exact version (full uid).

        NotFound when it does not exist in this EHR.
        """
        ...

    async def update_composition(
        self, ehr_id: str, preceding: str, composition: Composition
    ) -> VersionUid:
        """Commit a new version; PreconditionFailed unless ``preceding`` is the latest."""
        ...

    async def list_compositions(
        self, ehr_id: str, archetype_node_id: str, *, limit: int, cursor: str | None = None
    ) -> CompositionPage:
        """Compositions of one archetype, newest ``context/start_time`` first, keyset-paged."""
        ...


class CompositionGateway(Protocol):
    """Hands out the CompositionStore for a unit of work, as FhirGateway does for FHIR.

    The embedded store joins the request's session (one transaction for the letter, its
    projection and its audit entry); an external server ignores it.
    """

    def store(self, db: AsyncSession) -> CompositionStore: ...

    async def ping(self) -> bool: ...

    async def aclose(self) -> None: ...


@dataclass(frozen=True)
class Keyset:
    """The position after the last row of a page: its start time and object id."""

    start_time: datetime
    object_id: str

    def encode(self) -> str:
        return encode_values(self.start_time.astimezone(UTC), self.object_id)

    @classmethod
    def decode(cls, cursor: str) -> Keyset:
        moment, object_id = decode_values(cursor, datetime, str)
        return cls(moment.astimezone(UTC), object_id)


def check_limit(limit: int) -> int:
    if not 1 <= limit <= MAX_PAGE:
        raise Invalid(f"limit must be between 1 and {MAX_PAGE}")
    return limit


def format_time(moment: datetime) -> str:
    """openEHR DV_DATE_TIME value: ISO 8601 in UTC with microseconds, so strings sort."""
    return moment.astimezone(UTC).isoformat(timespec="microseconds")


def parse_time(value: object) -> datetime:
    if not isinstance(value, str):
        raise Invalid("Composition has no context start time")
    try:
        moment = datetime.fromisoformat(value.replace("Z", "+00:00"))
    except ValueError as exc:
        raise Invalid("Composition start time is not ISO 8601") from exc
    if moment.tzinfo is None:
        raise Invalid(f"context/start_time {value!r} has no time zone: give an offset "
                      "such as +01:00 or Z")
    return moment.astimezone(UTC)


def summary_fields(composition: Composition) -> tuple[str, str, str | None, datetime]:
    """(archetype node id, name, composer name, start time) of a canonical COMPOSITION."""
    try:
        if composition.get("_type") != "COMPOSITION":
            raise Invalid("Not a COMPOSITION")
        archetype = composition["archetype_node_id"]
        name = composition["name"]["value"]
        composer = composition.get("composer") or {}
        start = composition["context"]["start_time"]["value"]
    except (KeyError, TypeError, AttributeError) as exc:
        raise Invalid("COMPOSITION lacks archetype_node_id, name or context") from exc
    composer_name = composer.get("name") if isinstance(composer, dict) else None
    if not isinstance(archetype, str) or not isinstance(name, str):
        raise Invalid("COMPOSITION name and archetype_node_id must be strings")
    return archetype, name, composer_name if isinstance(composer_name, str) else None, \
        parse_time(start)
