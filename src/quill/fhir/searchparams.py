"""Search parameters: which exist per resource type, and how values are pulled out of a
resource into index rows. Parsing of query strings lives in ``query.py``."""

from __future__ import annotations

import re
import unicodedata
from collections.abc import Callable, Iterator
from dataclasses import dataclass
from datetime import UTC, date, datetime, timedelta
from typing import Any, Literal

from quill.fhir.port import Resource, split_reference

Kind = Literal["token", "string", "reference", "date"]
MAX_VALUE = 255
GENDER_SYSTEM = "http://hl7.org/fhir/administrative-gender"


@dataclass(frozen=True)
class IndexValue:
    system: str | None = None
    value: str | None = None
    low: datetime | None = None
    high: datetime | None = None


@dataclass(frozen=True)
class ParamDef:
    name: str
    kind: Kind
    extract: Callable[[Resource], list[IndexValue]]
    documentation: str
    # An alias searches another parameter's index rows, narrowed to one target type (R4's
    # ``patient`` is ``subject`` pointing at a Patient); it has no index rows of its own.
    alias_of: str | None = None
    target: str | None = None


def normalise(text: str) -> str:
    """Case- and accent-insensitive form used for string search (FHIR default matching)."""
    decomposed = unicodedata.normalize("NFKD", text)
    stripped = "".join(ch for ch in decomposed if not unicodedata.combining(ch))
    return " ".join(stripped.casefold().split())[:MAX_VALUE]


_DATE = re.compile(r"([0-9]{4})(?:-([0-9]{2})(?:-([0-9]{2}))?)?")


def _end_of(start: datetime, *, years: int = 0, months: int = 0, days: int = 0) -> datetime:
    try:
        return _next(start, years=years, months=months, days=days) - timedelta(microseconds=1)
    except (ValueError, OverflowError):
        return datetime.max.replace(tzinfo=UTC)  # the range reaches the end of year 9999


def _next(start: datetime, *, years: int, months: int, days: int) -> datetime:
    if years:
        nxt = start.replace(year=start.year + years)
    elif months:
        year, month = divmod(start.month - 1 + months, 12)
        nxt = start.replace(year=start.year + year, month=month + 1)
    else:
        nxt = start + timedelta(days=days)
    return nxt


def date_range(text: str) -> tuple[datetime, datetime]:
    """The instant range a FHIR date/dateTime/instant covers (dates without zone are UTC)."""
    match = _DATE.fullmatch(text)
    if match:
        year, month, day = match.groups()
        start = datetime(int(year), int(month or 1), int(day or 1), tzinfo=UTC)
        if day:
            return start, _end_of(start, days=1)
        if month:
            return start, _end_of(start, months=1)
        return start, _end_of(start, years=1)
    moment = datetime.fromisoformat(text.replace("Z", "+00:00"))
    if moment.tzinfo is None:
        moment = moment.replace(tzinfo=UTC)
    moment = moment.astimezone(UTC)
    if moment.microsecond:
        return moment, moment
    return moment, moment + timedelta(seconds=1) - timedelta(microseconds=1)


def _as_list(value: Any) -> list[Any]:
    if value is None:
        return []
    return value if isinstance(value, list) else [value]


def _strings(*values: Any) -> list[IndexValue]:
    out: list[IndexValue] = []
    for value in values:
        if isinstance(value, str) and value.strip():
            out.append(IndexValue(value=normalise(value)))
    return out


def _names(resource: Resource) -> Iterator[dict[str, Any]]:
    for name in _as_list(resource.get("name")):
        if isinstance(name, dict):
            yield name


def _name_parts(resource: Resource) -> list[IndexValue]:
    values: list[Any] = []
    for name in _names(resource):
        values += [name.get("text"), name.get("family"), *_as_list(name.get("given")),
                   *_as_list(name.get("prefix")), *_as_list(name.get("suffix"))]
    return _strings(*values)


def _family(resource: Resource) -> list[IndexValue]:
    return _strings(*(name.get("family") for name in _names(resource)))


def _given(resource: Resource) -> list[IndexValue]:
    return _strings(*(g for name in _names(resource) for g in _as_list(name.get("given"))))


def _plain_name(resource: Resource) -> list[IndexValue]:
    return _strings(resource.get("name"), *_as_list(resource.get("alias")))


def _identifiers(resource: Resource) -> list[IndexValue]:
    out: list[IndexValue] = []
    for ident in _as_list(resource.get("identifier")):
        if isinstance(ident, dict) and isinstance(ident.get("value"), str):
            system = ident.get("system")
            out.append(IndexValue(system=system[:MAX_VALUE] if isinstance(system, str) else None,
                                  value=ident["value"][:MAX_VALUE]))
    return out


def _code(field: str, system: str | None = None) -> Callable[[Resource], list[IndexValue]]:
    def extract(resource: Resource) -> list[IndexValue]:
        value = resource.get(field)
        if isinstance(value, bool):
            return [IndexValue(value="true" if value else "false")]
        if isinstance(value, str):
            return [IndexValue(system=system, value=value[:MAX_VALUE])]
        return []
    return extract


def _refs(field: str) -> Callable[[Resource], list[IndexValue]]:
    def extract(resource: Resource) -> list[IndexValue]:
        out: list[IndexValue] = []
        for item in _as_list(resource.get(field)):
            if isinstance(item, dict) and isinstance(item.get("reference"), str):
                kind, ident = split_reference(item["reference"])
                out.append(IndexValue(system=kind, value=ident[:MAX_VALUE]))
        return out
    return extract


def _date(field: str) -> Callable[[Resource], list[IndexValue]]:
    def extract(resource: Resource) -> list[IndexValue]:
        value = resource.get(field)
        if not isinstance(value, str | date):
            return []
        try:
            low, high = date_range(value if isinstance(value, str) else value.isoformat())
        except (ValueError, OverflowError):
            return []  # validated already; an unrepresentable instant is just not indexed
        return [IndexValue(low=low, high=high)]
    return extract


def _defs(*defs: ParamDef) -> dict[str, ParamDef]:
    return {d.name: d for d in defs}


def _refs_to(field: str, target: str) -> Callable[[Resource], list[IndexValue]]:
    every = _refs(field)

    def extract(resource: Resource) -> list[IndexValue]:
        return [value for value in every(resource) if value.system == target]
    return extract


def _patient_alias() -> ParamDef:
    return ParamDef("patient", "reference", _refs_to("subject", "Patient"),
                    "the subject, when it is a Patient", alias_of="subject", target="Patient")


_IDENTIFIER = ParamDef("identifier", "token", _identifiers, "system|value, |value or value")
_NAME = ParamDef("name", "string", _name_parts, "any part of a HumanName (prefix match)")

SUPPORTED_TYPES: dict[str, dict[str, ParamDef]] = {
    "Patient": _defs(
        _IDENTIFIER, _NAME,
        ParamDef("family", "string", _family, "family name (prefix match)"),
        ParamDef("given", "string", _given, "given name (prefix match)"),
        ParamDef("birthdate", "date", _date("birthDate"), "date of birth"),
        ParamDef("gender", "token", _code("gender", GENDER_SYSTEM), "administrative gender"),
        ParamDef("active", "token", _code("active"), "true or false"),
    ),
    "Practitioner": _defs(
        _IDENTIFIER, _NAME,
        ParamDef("family", "string", _family, "family name (prefix match)"),
        ParamDef("given", "string", _given, "given name (prefix match)"),
    ),
    "Organization": _defs(
        _IDENTIFIER,
        ParamDef("name", "string", _plain_name, "name or alias (prefix match)"),
    ),
    "Communication": _defs(
        _IDENTIFIER,
        ParamDef("subject", "reference", _refs("subject"), "the patient the message is about"),
        ParamDef("part-of", "reference", _refs("partOf"), "the thread's first message"),
        ParamDef("sender", "reference", _refs("sender"), "who sent it"),
        ParamDef("recipient", "reference", _refs("recipient"), "who received it"),
        ParamDef("sent", "date", _date("sent"), "when it was sent"),
        ParamDef("status", "token", _code("status"), "event status"),
        _patient_alias(),
    ),
    "MedicationRequest": _defs(
        _IDENTIFIER,
        ParamDef("subject", "reference", _refs("subject"), "the patient"),
        ParamDef("requester", "reference", _refs("requester"), "the prescriber"),
        ParamDef("status", "token", _code("status"), "request status"),
        _patient_alias(),
    ),
}


def index_values(resource: Resource) -> Iterator[tuple[str, IndexValue]]:
    """Every (param name, value) pair a stored resource contributes to the index."""
    defs = SUPPORTED_TYPES.get(str(resource.get("resourceType")), {})
    for name, definition in defs.items():
        if definition.alias_of is not None:
            continue
        for value in definition.extract(resource):
            yield name, value

