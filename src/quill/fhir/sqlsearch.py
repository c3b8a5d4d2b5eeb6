"""Turning parsed search criteria into SQL over the index table (never over the JSON)."""

from __future__ import annotations

from dataclasses import dataclass
from datetime import datetime
from typing import Any

from sqlalchemy import ColumnElement, Select, and_, false, func, or_, select, true

from quill.db.keyset import decode_values, encode_values
from quill.errors import Invalid
from quill.fhir.models import FhirResourceRow, FhirSearchIndexRow
from quill.fhir.query import Alternative, Criterion, ParsedSearch, bad

R = FhirResourceRow.__table__.c
IX = FhirSearchIndexRow.__table__.c


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


def _range(op: str, alt: Alternative, low: Any, high: Any) -> ColumnElement[bool]:
    if op == "ge":
        return bool_expr(high >= alt.low)
    if op == "le":
        return bool_expr(low <= alt.high)
    if op == "gt":
        return bool_expr(high > alt.high)
    if op == "lt":
        return bool_expr(low < alt.low)
    return and_(low >= alt.low, high <= alt.high)


def bool_expr(value: Any) -> ColumnElement[bool]:
    expression: ColumnElement[bool] = value
    return expression


def _upper(prefix: str) -> str:
    """The smallest string above every string that starts with ``prefix``."""
    last = ord(prefix[-1])
    if last >= 0x10FFFF:
        return prefix + "\U0010ffff"
    return prefix[:-1] + chr(last + 1)


def _indexed(alt: Alternative, kind: str) -> ColumnElement[bool]:
    if kind == "date":
        return _range(alt.op, alt, IX.low, IX.high)
    if kind == "string":
        assert alt.value is not None  # noqa: S101 - parse_search never yields empty strings
        # A range, not LIKE, so the b-tree index serves prefix matches on every backend.
        return and_(IX.value >= alt.value, IX.value < _upper(alt.value))
    conditions: list[ColumnElement[bool]] = []
    if alt.value is not None:
        conditions.append(IX.value == alt.value)
    if alt.match_system:
        conditions.append(IX.system == alt.system if alt.system else IX.system.is_(None))
    return and_(true(), *conditions)


def _condition(resource_type: str, criterion: Criterion) -> ColumnElement[bool]:
    if criterion.kind == "id":
        return R.resource_id.in_([alt.value for alt in criterion.alternatives])
    if criterion.param == "_lastUpdated":
        return or_(false(), *(_range(alt.op, alt, R.last_updated, R.last_updated)
                              for alt in criterion.alternatives))
    matches = select(IX.resource_pk).where(
        IX.resource_type == resource_type, IX.param == criterion.param,
        or_(false(), *(_indexed(alt, criterion.kind) for alt in criterion.alternatives)),
    )
    return R.pk.in_(matches)


def filters(resource_type: str, parsed: ParsedSearch) -> list[ColumnElement[bool]]:
    return [R.resource_type == resource_type, R.deleted.is_(False),
            *(_condition(resource_type, c) for c in parsed.criteria)]


def _after(keyset: Keyset) -> ColumnElement[bool]:
    if keyset.descending:
        return or_(R.last_updated < keyset.last_updated,
                   and_(R.last_updated == keyset.last_updated, R.pk < keyset.pk))
    return or_(R.last_updated > keyset.last_updated,
               and_(R.last_updated == keyset.last_updated, R.pk > keyset.pk))


def page_query(resource_type: str, parsed: ParsedSearch, keyset: Keyset | None) -> Select[Any]:
    """One page plus one row (to know whether another page exists)."""
    return page_of(filters(resource_type, parsed), parsed, keyset)


def count_query(resource_type: str, parsed: ParsedSearch) -> Select[Any]:
    return count_of(filters(resource_type, parsed))


def page_of(where: list[ColumnElement[bool]], parsed: ParsedSearch, keyset: Keyset | None
            ) -> Select[Any]:
    """``page_query`` over conditions already built (``filters``), which a count may share."""
    descending = keyset.descending if keyset else parsed.descending
    if keyset is not None:
        where = [*where, _after(keyset)]
    order = ([R.last_updated.desc(), R.pk.desc()] if descending
             else [R.last_updated.asc(), R.pk.asc()])
    return (select(R.pk, R.last_updated, R.content).where(*where).order_by(*order)
            .limit(parsed.count + 1))


def count_of(where: list[ColumnElement[bool]]) -> Select[Any]:
    return select(func.count()).select_from(FhirResourceRow.__table__).where(*where)
