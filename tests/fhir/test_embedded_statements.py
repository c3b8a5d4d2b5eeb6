"""The embedded store's reads send the fewest statements they can: a read is one select,
and a search whose first page holds every match is its own total (no count statement);
a page with more behind it, a later page and ``_summary=count`` still count. Searches of
one shape share statements built once; their values travel apart."""

from __future__ import annotations

from datetime import UTC, datetime

import pytest
from fastapi import FastAPI

from quill.db.session import unit_of_work
from quill.errors import Gone, NotFound
from quill.fhir.port import FhirStore, SearchPage
from quill.fhir.query import parse_search
from quill.fhir.sqlsearch import (
    Keyset,
    SearchShape,
    count_statement,
    page_statement,
    search_shape,
)
from tests.helpers import runtime_of
from tests.statements import count_statements

MRN = "urn:test:mrn"


def _patient(n: int) -> dict[str, object]:
    return {"resourceType": "Patient", "id": f"stmt-{n}",
            "identifier": [{"system": MRN, "value": f"m{n}"}],
            "name": [{"family": "Counted", "given": [f"P{n}"]}]}


async def _store_patients(app: FastAPI, count: int) -> None:
    runtime = runtime_of(app)
    async with unit_of_work(runtime.session_factory) as db:
        store = runtime.fhir.store(db)
        for n in range(count):
            await store.update(_patient(n))


async def _search(app: FastAPI, params: dict[str, str], *, count: int | None = None,
                  cursor: str | None = None) -> tuple[SearchPage, list[str]]:
    runtime = runtime_of(app)
    async with unit_of_work(runtime.session_factory) as db:
        store: FhirStore = runtime.fhir.store(db)
        with count_statements(runtime.engine) as statements:
            page = await store.search("Patient", params, count=count, cursor=cursor)
    return page, list(statements)


def _counts(statements: list[str]) -> int:
    return sum("count(" in s.lower() for s in statements)


async def test_a_read_is_one_statement_and_returns_a_copy_of_its_own(app: FastAPI) -> None:
    await _store_patients(app, 1)
    runtime = runtime_of(app)
    async with unit_of_work(runtime.session_factory) as db:
        store = runtime.fhir.store(db)
        with count_statements(runtime.engine) as statements:
            first = await store.read("Patient", "stmt-0")
        assert len(statements) == 1
        first["name"] = []
        assert (await store.read("Patient", "stmt-0"))["name"][0]["family"] == "Counted"
        await store.delete("Patient", "stmt-0")
        with pytest.raises(Gone):
            await store.read("Patient", "stmt-0")
        for missing in ("no-such-patient", "not a FHIR id"):
            with pytest.raises(NotFound) as raised:
                await store.read("Patient", missing)
            assert not isinstance(raised.value, Gone)


async def test_a_first_page_holding_every_match_is_its_own_total(app: FastAPI) -> None:
    await _store_patients(app, 3)
    page, statements = await _search(app, {"identifier": f"{MRN}|m1"})
    assert [r["id"] for r in page.resources] == ["stmt-1"]
    assert (page.total, page.next_cursor) == (1, None)
    assert (len(statements), _counts(statements)) == (1, 0)
    page, statements = await _search(app, {"family": "counted"}, count=3)
    assert (page.total, page.next_cursor) == (3, None)
    assert len(statements) == 1
    page, statements = await _search(app, {"identifier": f"{MRN}|nobody"})
    assert (page.total, page.resources, len(statements)) == (0, [], 1)


async def test_pages_with_more_behind_them_are_counted(app: FastAPI) -> None:
    await _store_patients(app, 5)
    first, statements = await _search(app, {"family": "counted"}, count=2)
    assert first.next_cursor is not None
    assert (first.total, len(first.resources), _counts(statements)) == (5, 2, 1)
    # The last page is short, yet only the count knows the matches before it.
    cursor: str | None = first.next_cursor
    seen = [r["id"] for r in first.resources]
    while cursor is not None:
        later, statements = await _search(app, {"family": "counted"}, count=2, cursor=cursor)
        assert (later.total, _counts(statements)) == (5, 1)
        seen += [r["id"] for r in later.resources]
        cursor = later.next_cursor
    assert sorted(seen) == [f"stmt-{n}" for n in range(5)]
    only_total, statements = await _search(app, {"family": "counted"}, count=0)
    assert (only_total.total, only_total.resources, len(statements)) == (5, [], 1)
    assert _counts(statements) == 1


def test_searches_of_one_shape_share_their_statements_and_values_stay_apart() -> None:
    def shape_of(params: dict[str, str], cursor: Keyset | None = None
                 ) -> tuple[SearchShape, dict[str, object]]:
        return search_shape("Patient", parse_search("Patient", params), cursor)

    ada, ada_values = shape_of({"identifier": f"{MRN}|ada"})
    bob, bob_values = shape_of({"identifier": f"{MRN}|bob"})
    assert page_statement(ada) is page_statement(bob)
    assert count_statement(ada) is count_statement(bob)
    assert (ada_values["v0"], bob_values["v0"], ada_values["v1"]) == ("ada", "bob", MRN)
    any_system, _ = shape_of({"identifier": "ada"})
    no_system, _ = shape_of({"identifier": "|ada"})
    two, _ = shape_of({"identifier": f"{MRN}|ada,{MRN}|bob"})
    shapes = [ada, any_system, no_system, two]
    assert len({id(page_statement(s)) for s in shapes}) == len(shapes)
    later, later_values = shape_of({"identifier": f"{MRN}|ada"},
                                   Keyset(datetime(2026, 1, 1, tzinfo=UTC), 7, False))
    assert page_statement(later) is not page_statement(ada)
    assert count_statement(later) is count_statement(ada)
    assert later_values["after_pk"] == 7


async def test_a_caller_that_reads_no_total_is_never_counted(app: FastAPI) -> None:
    await _store_patients(app, 5)
    runtime = runtime_of(app)
    cursor: str | None = None
    seen: list[str] = []
    while True:
        async with unit_of_work(runtime.session_factory) as db:
            store = runtime.fhir.store(db)
            with count_statements(runtime.engine) as statements:
                page = await store.search("Patient", {"family": "counted"}, count=2,
                                          cursor=cursor, total=False)
        assert (page.total, len(statements)) == (None, 1)
        seen += [r["id"] for r in page.resources]
        cursor = page.next_cursor
        if cursor is None:
            break
    assert sorted(seen) == [f"stmt-{n}" for n in range(5)]
