"""Parsing FHIR search query parameters into backend-neutral criteria (and rejecting the
ones Quill does not support with a clear 400)."""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass
from datetime import datetime

from quill.errors import Invalid
from quill.fhir.port import SearchParams, check_id, split_reference
from quill.fhir.searchparams import SUPPORTED_TYPES, date_range, normalise

DEFAULT_COUNT = 50
MAX_COUNT = 200
DATE_PREFIXES = ("eq", "ge", "le", "gt", "lt")
SORTS = {"_lastUpdated": False, "-_lastUpdated": True}
# Result parameters accepted for client compatibility; Quill always returns an exact total.
IGNORED = frozenset({"_total", "_totalMethod", "_format"})
COMMON = {"_id": "token", "_lastUpdated": "date"}


@dataclass(frozen=True)
class Alternative:
    """One OR-ed value. Tokens/references: (system?, value?); strings: value is a prefix;
    dates: op with the [low, high] range of the given value."""

    value: str | None = None
    system: str | None = None
    match_system: bool = False
    op: str = "eq"
    low: datetime | None = None
    high: datetime | None = None


@dataclass(frozen=True)
class Criterion:
    param: str
    kind: str
    alternatives: tuple[Alternative, ...]


@dataclass(frozen=True)
class ParsedSearch:
    criteria: list[Criterion]
    count: int
    descending: bool


def bad(message: str) -> Invalid:
    return Invalid({"message": message, "error_code": "invalid_search"})


def _values(raw: str | Sequence[str]) -> list[str]:
    return [raw] if isinstance(raw, str) else list(raw)


def _token(text: str, kind: str) -> Alternative:
    if kind == "reference":
        system, ident = split_reference(text)
        return Alternative(value=ident, system=system, match_system=system is not None)
    if kind == "id":
        return Alternative(value=check_id(text))
    if "|" not in text:
        return Alternative(value=text)
    system, _, value = text.partition("|")
    return Alternative(value=value or None, system=system or None, match_system=True)


def _date(text: str) -> Alternative:
    op = "eq"
    if text[:2] in DATE_PREFIXES:
        op, text = text[:2], text[2:]
    elif text[:2].isalpha():
        raise bad(f"Unsupported date prefix {text[:2]!r}; use one of {', '.join(DATE_PREFIXES)}")
    try:
        low, high = date_range(text)
    except (ValueError, OverflowError) as exc:
        raise bad(f"Invalid date value {text[:40]!r}") from exc
    return Alternative(op=op, low=low, high=high)


def _alternative(text: str, kind: str) -> Alternative:
    if kind == "string":
        prefix = normalise(text)
        if not prefix:
            raise bad("Empty string search value")
        return Alternative(value=prefix)
    if kind == "date":
        return _date(text)
    return _token(text, kind)


def _criterion(name: str, kind: str, raw: str) -> Criterion:
    if "\x00" in raw:
        raise bad(f"Invalid character in search parameter {name}")
    if not raw:
        raise bad(f"Empty value for search parameter {name}")
    parts = [raw] if kind == "date" else raw.split(",")
    alternatives = tuple(_alternative(part, kind) for part in parts if part)
    if not alternatives:
        raise bad(f"Empty value for search parameter {name}")
    return Criterion(name, kind, alternatives)


def _aliased(criterion: Criterion, alias_of: str, target: str) -> Criterion:
    """``patient=123`` searches ``subject`` for ``Patient/123`` (and nothing else)."""
    alternatives: list[Alternative] = []
    for alt in criterion.alternatives:
        if alt.system not in (None, target):
            raise bad(f"Search parameter {criterion.param} only points at {target}")
        alternatives.append(Alternative(value=alt.value, system=target, match_system=True))
    return Criterion(alias_of, criterion.kind, tuple(alternatives))


def _count(raw: list[str], count: int | None) -> int:
    if count is None and raw:
        try:
            count = int(raw[-1])
        except ValueError as exc:
            raise bad("_count must be an integer") from exc
    if count is None:
        return DEFAULT_COUNT
    if count < 0:
        raise bad("_count must not be negative")
    return min(count, MAX_COUNT)


def _sort(raw: list[str]) -> bool:
    if not raw:
        return False
    if len(raw) > 1 or raw[0] not in SORTS:
        raise bad("_sort supports only _lastUpdated or -_lastUpdated")
    return SORTS[raw[0]]


def parse_search(resource_type: str, params: SearchParams | None,
                 count: int | None = None) -> ParsedSearch:
    defs = SUPPORTED_TYPES[resource_type]
    criteria: list[Criterion] = []
    result: dict[str, list[str]] = {"_count": [], "_sort": []}
    for name, raw in (params or {}).items():
        values = _values(raw)
        if name in result:
            result[name] += values
        elif name in IGNORED:
            continue
        elif name in COMMON:
            kind = "id" if name == "_id" else "date"
            criteria += [_criterion(name, kind, value) for value in values]
        elif name in defs:
            definition = defs[name]
            parsed = [_criterion(name, definition.kind, value) for value in values]
            if definition.alias_of is not None and definition.target is not None:
                parsed = [_aliased(c, definition.alias_of, definition.target) for c in parsed]
            criteria += parsed
        else:
            known = ", ".join(sorted([*defs, *COMMON, "_count", "_sort"]))
            raise bad(f"Unknown search parameter {name[:64]!r} for {resource_type}; "
                      f"supported: {known}")
    return ParsedSearch(criteria, _count(result["_count"], count), _sort(result["_sort"]))
