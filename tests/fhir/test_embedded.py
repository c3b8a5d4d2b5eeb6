"""Embedded-store behaviour beyond the contract: joining the caller's transaction, index
maintenance, and search by index (query plan) among 100,000 Patients."""

from __future__ import annotations

import json
from typing import Any

import pytest
from fastapi import FastAPI
from sqlalchemy import Select, func, select
from sqlalchemy.ext.asyncio import AsyncConnection

from quill.db.session import unit_of_work
from quill.errors import NotFound
from quill.fhir.models import FhirSearchIndexRow
from quill.fhir.query import parse_search
from quill.fhir.sqlsearch import count_query, page_query
from quill.runtime import Runtime
from tests.fhir.bulk import MRN_SYSTEM, load_patients, mrn

BULK = 100_000


def _runtime(app: FastAPI) -> Runtime:
    runtime: Runtime = app.state.runtime
    return runtime


async def test_writes_join_the_callers_transaction(app: FastAPI) -> None:
    runtime = _runtime(app)
    async with runtime.session_factory() as db:
        store = runtime.fhir.store(db)
        created = await store.create({"resourceType": "Patient"})
        assert (await store.read("Patient", created["id"]))["id"] == created["id"]
        await db.rollback()
    async with unit_of_work(runtime.session_factory) as db:
        with pytest.raises(NotFound):
            await runtime.fhir.store(db).read("Patient", created["id"])
        assert (await db.execute(select(func.count()).select_from(FhirSearchIndexRow))
                ).scalar_one() == 0


async def test_update_replaces_index_rows(app: FastAPI) -> None:
    runtime = _runtime(app)
    async with unit_of_work(runtime.session_factory) as db:
        store = runtime.fhir.store(db)
        stored = await store.update({"resourceType": "Patient", "id": "renamed",
                                     "name": [{"family": "Before"}]})
        await store.update({**stored, "name": [{"family": "After"}]})
        assert (await store.search("Patient", {"family": "before"})).total == 0
        assert (await store.search("Patient", {"family": "after"})).total == 1


def _explain_sql(conn: AsyncConnection, statement: Select[Any]) -> tuple[str, tuple[Any, ...]]:
    compiled = statement.compile(dialect=conn.dialect)
    positions = compiled.positiontup or []
    return str(compiled), tuple(compiled.params[name] for name in positions)


def _plan_nodes(node: dict[str, Any]) -> list[dict[str, Any]]:
    out = [node]
    for child in node.get("Plans", []):
        out += _plan_nodes(child)
    return out


async def _plan(conn: AsyncConnection, statement: Select[Any]) -> list[str]:
    sql, params = _explain_sql(conn, statement)
    if conn.dialect.name == "sqlite":
        rows = (await conn.exec_driver_sql(f"EXPLAIN QUERY PLAN {sql}", params)).all()
        return [str(row[-1]) for row in rows]
    raw = (await conn.exec_driver_sql(f"EXPLAIN (FORMAT JSON) {sql}", params)).scalar_one()
    plan = json.loads(raw) if isinstance(raw, str) else raw
    return [f"{n['Node Type']} {n.get('Index Name', '')} {n.get('Relation Name', '')}"
            for n in _plan_nodes(plan[0]["Plan"])]


async def test_identifier_search_uses_the_index_among_100k(app: FastAPI) -> None:
    runtime = _runtime(app)
    async with runtime.engine.begin() as conn:
        await load_patients(conn, BULK)
    wanted = f"{MRN_SYSTEM}|{mrn(77_777)}"
    parsed = parse_search("Patient", {"identifier": wanted})
    async with runtime.engine.connect() as conn:
        plans = [await _plan(conn, page_query("Patient", parsed, None)),
                 await _plan(conn, count_query("Patient", parsed))]
    for lines in plans:
        text = "\n".join(lines)
        assert "ix_fhir_search_index_value" in text, text
        if conn.dialect.name == "sqlite":
            # fhir_resources is reached by primary key, never walked.
            assert "SCAN" not in text, text
            assert "fhir_resources USING INTEGER PRIMARY KEY" in text, text
        else:
            assert "Seq Scan" not in text, text
    async with unit_of_work(runtime.session_factory) as db:
        page = await runtime.fhir.store(db).search("Patient", {"identifier": wanted})
    assert page.total == 1
    assert [r["id"] for r in page.resources] == ["bulk-77777"]
