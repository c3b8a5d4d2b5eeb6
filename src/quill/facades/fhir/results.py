"""Search result parameters the facade handles itself, over any FhirStore: ``_summary``
and ``_include``."""

from __future__ import annotations

from dataclasses import dataclass

from quill.errors import Invalid
from quill.fhir.port import FhirStore, Resource, is_valid_id
from quill.fhir.query import MAX_COUNT
from quill.fhir.searchparams import SUPPORTED_TYPES, ParamDef


@dataclass(frozen=True)
class Include:
    source: str
    param: ParamDef
    target: str | None


@dataclass(frozen=True)
class ResultParams:
    includes: list[Include]
    count_only: bool


def include_names(resource_type: str) -> list[str]:
    """What ``_include`` accepts for a type: ``Type:param`` for each reference parameter."""
    return [f"{resource_type}:{d.name}" for d in SUPPORTED_TYPES[resource_type].values()
            if d.kind == "reference"]


def _include(resource_type: str, value: str) -> Include:
    source, _, rest = value.partition(":")
    name, _, target = rest.partition(":")
    definition = SUPPORTED_TYPES[resource_type].get(name)
    if source != resource_type or definition is None or definition.kind != "reference":
        raise Invalid({"message": f"Unsupported _include {value[:80]!r}; supported: "
                       f"{', '.join(include_names(resource_type))}",
                       "error_code": "invalid_search"})
    if target and target not in SUPPORTED_TYPES:
        raise Invalid({"message": f"Unknown _include target type {target[:64]!r}",
                       "error_code": "invalid_search"})
    return Include(source, definition, target or None)


def take_result_params(resource_type: str, params: dict[str, list[str]]) -> ResultParams:
    """Removes ``_include`` and ``_summary`` from ``params`` and says what they ask for."""
    includes = [_include(resource_type, value) for value in params.pop("_include", [])]
    summary = params.pop("_summary", [])
    if any(value not in ("count", "false") for value in summary):
        raise Invalid({"message": "_summary supports count (or false) only",
                       "error_code": "invalid_search"})
    return ResultParams(includes, "count" in summary)


async def included(store: FhirStore, matches: list[Resource], includes: list[Include]
                   ) -> list[Resource]:
    """The resources the matches point at through the included parameters, each once and
    none that is a match already; references to missing resources are left out."""
    seen = {(r["resourceType"], r["id"]) for r in matches}
    wanted: dict[str, list[str]] = {}
    for resource in matches:
        for include in includes:
            for value in include.param.extract(resource):
                kind, ident = value.system, value.value
                if (kind is None or ident is None or kind not in SUPPORTED_TYPES
                        or (include.target and kind != include.target)
                        or not is_valid_id(ident) or (kind, ident) in seen):
                    continue
                seen.add((kind, ident))
                wanted.setdefault(kind, []).append(ident)
    found: list[Resource] = []
    for kind, idents in wanted.items():
        for start in range(0, len(idents), MAX_COUNT):
            chunk = idents[start:start + MAX_COUNT]
            page = await store.search(kind, {"_id": ",".join(chunk)}, count=len(chunk),
                                      total=False)
            found += page.resources
    return found
