"""Turning parsed search criteria into SQL over the index table (never over the JSON).

A search's SQL depends only on its shape: the resource type, each criterion's parameter
and the form of its alternatives, the sort and whether a cursor continues it. Its values
(ids, codes, prefixes, instants, the cursor's position, the page size) travel as bind
parameters, so each shape's statements are built once and reused (``Statements``):
building and keying them cost more than the rest of a search.
"""

from __future__ import annotations

from collections.abc import Callable, Hashable
from dataclasses import dataclass
from datetime import datetime
from typing import Any, Generic, TypeVar

from sqlalchemy import (
    BindParameter,
    ColumnElement,
    Integer,
    Select,
    and_,
    bindparam,
    false,
    func,
    or_,
    select,
    true,
)

from quill.db.keyset import decode_values, encode_values
from quill.errors import Invalid
from quill.fhir.models import FhirResourceRow, FhirSearchIndexRow
from quill.fhir.query import Alternative, ParsedSearch, bad

R = FhirResourceRow.__table__.c
IX = FhirSearchIndexRow.__table__.c
_PAGE_SIZE = bindparam("page_size", type_=Integer)  # the page plus one row
_AFTER_UPDATED: BindParameter[Any] = bindparam("after_updated")
_AFTER_PK: BindParameter[Any] = bindparam("after_pk")
Built = TypeVar("Built")


class Statements(Generic[Built]):
    """Statements built once per shape; at most ``size`` are kept (the oldest goes first)."""

    def __init__(self, size: int) -> None:
        self._size = size
        self._built: dict[Hashable, Built] = {}

    def get(self, shape: Hashable, build: Callable[[], Built]) -> Built:
        found = self._built.get(shape)
        if found is None:
            if len(self._built) >= self._size:
                del self._built[next(iter(self._built))]
            found = self._built[shape] = build()
        return found


@dataclass(frozen=True)
class Keyset:
    last_updated: datetime
    pk: int
    descending: bool

    def encode(self) -> str:
        return encode_values(self.last_updated, self.pk, self.descending)

    @classmethod
    def decode(cls, cursor: str) -> Keyset:
        try:
            moment, pk, descending = decode_values(cursor, datetime, int, bool)
        except Invalid as exc:
            raise bad("Invalid paging cursor") from exc
        return cls(moment, pk, descending)


# One criterion's shape: (param, kind, one entry per alternative). An entry names the bind
# parameters its values go to: ids ``name``; strings ``(low, high)``; dates
# ``(op, name...)``; tokens and references ``(value name or None, system)``, where system
# is None (any system), "" (no system) or the bind parameter's name.
CriterionShape = tuple[str, str, tuple[Any, ...]]


@dataclass(frozen=True)
class SearchShape:
    resource_type: str
    criteria: tuple[CriterionShape, ...]
    descending: bool
    continued: bool  # a cursor's position bounds the page


def upper_bound(prefix: str) -> str:
    """The smallest string above every string that starts with ``prefix``."""
    last = ord(prefix[-1])
    if last >= 0x10FFFF:
        return prefix + "\U0010ffff"
    return prefix[:-1] + chr(last + 1)


class _Values:
    """The values of one search, each under the next bind parameter name."""

    def __init__(self) -> None:
        self.values: dict[str, Any] = {}

    def slot(self, value: Any) -> str:
        name = f"v{len(self.values)}"
        self.values[name] = value
        return name


def _date_entry(alt: Alternative, values: _Values) -> tuple[str, ...]:
    if alt.op in ("ge", "lt"):
        return alt.op, values.slot(alt.low)
    if alt.op in ("le", "gt"):
        return alt.op, values.slot(alt.high)
    return alt.op, values.slot(alt.low), values.slot(alt.high)


def _entry(kind: str, alt: Alternative, values: _Values) -> Any:
    if kind == "id":
        return values.slot(alt.value)
    if kind == "date":
        return _date_entry(alt, values)
    if kind == "string":
        assert alt.value is not None  # noqa: S101 - parse_search never yields empty strings
        return values.slot(alt.value), values.slot(upper_bound(alt.value))
    value = None if alt.value is None else values.slot(alt.value)
    system = None
    if alt.match_system:
        system = values.slot(alt.system) if alt.system else ""
    return value, system


def search_shape(resource_type: str, parsed: ParsedSearch, keyset: Keyset | None
                 ) -> tuple[SearchShape, dict[str, Any]]:
    """The search's shape and the values of its bind parameters."""
    values = _Values()
    criteria = tuple((c.param, c.kind, tuple(_entry(c.kind, alt, values)
                                             for alt in c.alternatives))
                     for c in parsed.criteria)
    bound = {**values.values, "page_size": parsed.count + 1}
    if keyset is not None:
        bound.update(after_updated=keyset.last_updated, after_pk=keyset.pk)
    descending = keyset.descending if keyset else parsed.descending
    return SearchShape(resource_type, criteria, descending, keyset is not None), bound


def _bind(name: str) -> BindParameter[Any]:
    return bindparam(name)


def _range(entry: tuple[str, ...], low: Any, high: Any) -> ColumnElement[bool]:
    op = entry[0]
    if op == "ge":
        return bool_expr(high >= _bind(entry[1]))
    if op == "le":
        return bool_expr(low <= _bind(entry[1]))
    if op == "gt":
        return bool_expr(high > _bind(entry[1]))
    if op == "lt":
        return bool_expr(low < _bind(entry[1]))
    return and_(low >= _bind(entry[1]), high <= _bind(entry[2]))


def bool_expr(value: Any) -> ColumnElement[bool]:
    expression: ColumnElement[bool] = value
    return expression


def _indexed(kind: str, entry: Any) -> ColumnElement[bool]:
    if kind == "date":
        return _range(entry, IX.low, IX.high)
    if kind == "string":
        # A range, not LIKE, so the b-tree index serves prefix matches on every backend.
        return and_(IX.value >= _bind(entry[0]), IX.value < _bind(entry[1]))
    value, system = entry
    conditions: list[ColumnElement[bool]] = []
    if value is not None:
        conditions.append(IX.value == _bind(value))
    if system is not None:
        conditions.append(IX.system == _bind(system) if system else IX.system.is_(None))
    return and_(true(), *conditions)


def _condition(resource_type: str, criterion: CriterionShape) -> ColumnElement[bool]:
    param, kind, entries = criterion
    if kind == "id":
        return R.resource_id.in_([_bind(name) for name in entries])
    if param == "_lastUpdated":
        return or_(false(), *(_range(entry, R.last_updated, R.last_updated)
                              for entry in entries))
    matches = select(IX.resource_pk).where(
        IX.resource_type == resource_type, IX.param == param,
        or_(false(), *(_indexed(kind, entry) for entry in entries)),
    )
    return R.pk.in_(matches)


def _filters(shape: SearchShape) -> list[ColumnElement[bool]]:
    return [R.resource_type == shape.resource_type, R.deleted.is_(False),
            *(_condition(shape.resource_type, c) for c in shape.criteria)]


def _after(descending: bool) -> ColumnElement[bool]:
    if descending:
        return or_(R.last_updated < _AFTER_UPDATED,
                   and_(R.last_updated == _AFTER_UPDATED, R.pk < _AFTER_PK))
    return or_(R.last_updated > _AFTER_UPDATED,
               and_(R.last_updated == _AFTER_UPDATED, R.pk > _AFTER_PK))


def _build_page(shape: SearchShape) -> Select[Any]:
    where = _filters(shape)
    if shape.continued:
        where.append(_after(shape.descending))
    order = ([R.last_updated.desc(), R.pk.desc()] if shape.descending
             else [R.last_updated.asc(), R.pk.asc()])
    return (select(R.pk, R.last_updated, R.content).where(*where).order_by(*order)
            .limit(_PAGE_SIZE))


def _build_count(shape: SearchShape) -> Select[Any]:
    return select(func.count()).select_from(FhirResourceRow.__table__).where(*_filters(shape))


_PAGES: Statements[Select[Any]] = Statements(512)
_COUNTS: Statements[Select[Any]] = Statements(512)


def page_statement(shape: SearchShape) -> Select[Any]:
    """One page plus one row (to know whether another page exists)."""
    return _PAGES.get(shape, lambda: _build_page(shape))


def count_statement(shape: SearchShape) -> Select[Any]:
    """Every match, counted (the order and the cursor's position do not matter)."""
    counted = SearchShape(shape.resource_type, shape.criteria, False, False)
    return _COUNTS.get(counted, lambda: _build_count(counted))


def page_query(resource_type: str, parsed: ParsedSearch, keyset: Keyset | None) -> Select[Any]:
    """``page_statement`` with this search's values bound (e.g. to show its plan)."""
    shape, values = search_shape(resource_type, parsed, keyset)
    return page_statement(shape).params(values)


def count_query(resource_type: str, parsed: ParsedSearch) -> Select[Any]:
    shape, values = search_shape(resource_type, parsed, None)
    return count_statement(shape).params(values)
