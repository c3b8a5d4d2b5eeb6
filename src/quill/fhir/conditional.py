"""Conditional interactions (R4 3.1.0.x): which stored resource search criteria select.

The same rules serve the facade's REST calls (over any FhirStore) and the entries of an
embedded transaction: no match, exactly one, or several (412, the criteria were not
selective enough).
"""

from __future__ import annotations

from dataclasses import dataclass
from urllib.parse import parse_qsl

from quill.errors import Conflict, Invalid, NotFound, PreconditionFailed
from quill.fhir.port import FhirStore, Resource, version_of
from quill.fhir.query import IGNORED, parse_search

# Result parameters change what a search returns, not what it matches: a condition holding
# them would select a different set than the client meant.
_RESULT_PARAMS = frozenset({"_count", "_sort", "_cursor", "_summary", "_elements",
                            "_include", "_revinclude"})
MAX_CRITERIA_LENGTH = 2000


def criteria_query(resource_type: str, text: str) -> str:
    """The query part of a condition: ``identifier=x``, ``?identifier=x`` and
    ``Patient?identifier=x`` all give ``identifier=x``; another type is a 400."""
    if len(text) > MAX_CRITERIA_LENGTH:
        raise Invalid("Search criteria too long")
    if "?" not in text:
        return text
    prefix, _, query = text.partition("?")
    if prefix.strip("/") not in ("", resource_type):
        raise Invalid(f"Criteria {prefix[:64]!r} do not search {resource_type}")
    return query


def criteria_params(resource_type: str, text: str) -> dict[str, list[str]]:
    """Parsed and checked search parameters of a condition; at least one must filter."""
    params: dict[str, list[str]] = {}
    for name, value in parse_qsl(criteria_query(resource_type, text), keep_blank_values=True):
        if name in _RESULT_PARAMS:
            raise Invalid(f"{name} has no place in conditional criteria")
        if name not in IGNORED:
            params.setdefault(name, []).append(value)
    if not parse_search(resource_type, params).criteria:
        raise Invalid({"message": "A conditional interaction needs search criteria",
                       "error_code": "missing_criteria"})
    return params


async def single_match(store: FhirStore, resource_type: str, criteria: str
                       ) -> Resource | None:
    """The one resource the criteria select, None when none does; 412 when several do."""
    params = criteria_params(resource_type, criteria)
    page = await store.search(resource_type, params, count=2)
    if len(page.resources) > 1 or (page.total or 0) > 1:
        raise PreconditionFailed({"message": f"The criteria match more than one "
                                             f"{resource_type}; make them more selective",
                                  "error_code": "multiple_matches"})
    return page.resources[0] if page.resources else None


@dataclass(frozen=True)
class UpdateTarget:
    """Where a conditional update writes: ``resource_id`` None means a new server id;
    ``expected_version`` guards the matched resource against a concurrent change."""

    resource_id: str | None
    expected_version: str | None = None


async def update_target(store: FhirStore, resource: Resource, criteria: str) -> UpdateTarget:
    """The R4 rules for ``PUT [type]?criteria``."""
    resource_type = str(resource["resourceType"])
    match = await single_match(store, resource_type, criteria)
    given = resource.get("id")
    if given is not None and not isinstance(given, str):
        raise Invalid("The resource id must be a string")
    if match is not None:
        if given is not None and given != match["id"]:
            raise Invalid("The resource id differs from the one the criteria match")
        return UpdateTarget(str(match["id"]), version_of(match))
    if given is None:
        return UpdateTarget(None)
    try:
        await store.read(resource_type, given)
    except NotFound:
        return UpdateTarget(given)  # update as create, at the client's id
    raise Conflict(f"{resource_type}/{given[:64]} exists but the criteria do not match it")
