"""GET /patients among 100,000 stored patients: a bounded number of SQL statements, the
same whether the caller may see 5 patients or 50 (the filter lives inside the query)."""

from __future__ import annotations

from pathlib import Path

import httpx
import pytest
from fastapi import FastAPI
from sqlalchemy import insert, text

from quill.access.models import PatientMembership
from quill.access.policy import can_see_patient, visible_patient_sources
from quill.fhir.patient_listing import PatientQuery, patient_page_query
from quill.identity.caller import Caller
from quill.identity.models import User
from quill.settings import Settings
from tests.conftest import make_settings
from tests.fhir.bulk import load_patients
from tests.helpers import runtime_of
from tests.patients.conftest import Clinic
from tests.statements import count_statements, sqlite_steps


@pytest.fixture
def settings(database_url: str, tmp_path: Path) -> Settings:
    # No periodic audit checkpoint: its read of the chain head would land in a count.
    return make_settings(database_url, tmp_path, audit_checkpoint_seconds=3600)

BULK = 100_000
# At most: authentication (session, user, features), the audit row and the page.
MAX_STATEMENTS = 12


async def _join(app: FastAPI, org_id: int, pks: range) -> None:
    runtime = runtime_of(app)
    async with runtime.session_factory() as db, db.begin():
        db.add_all([PatientMembership(organisation_id=org_id, patient_id=f"bulk-{pk}",
                                      is_primary=True, created_at=runtime.clock.now())
                    for pk in pks])


async def _statements(app: FastAPI, client: httpx.AsyncClient, headers: dict[str, str]
                      ) -> tuple[list[str], list[str]]:
    with count_statements(runtime_of(app).engine) as statements:
        response = await client.get("/api/patients", headers=headers)
    assert response.status_code == 200
    return [p["id"] for p in response.json()["patients"]], list(statements)


async def test_listing_among_100k_is_a_bounded_number_of_statements(
    app: FastAPI, client: httpx.AsyncClient, clinic: Clinic
) -> None:
    runtime = runtime_of(app)
    async with runtime.engine.begin() as conn:
        await load_patients(conn, BULK)
    await _join(app, clinic.outsider_org, range(50_001, 50_006))
    # The very first audited request also creates the audit chain's head row; measure
    # both listings in the steady state after it.
    await _statements(app, client, clinic.outsider.headers)
    few, few_statements = await _statements(app, client, clinic.outsider.headers)
    assert sorted(few) == sorted(f"bulk-{pk}" for pk in range(50_001, 50_006))
    await _join(app, clinic.org_id, range(1_000, 100_001, 2_000))
    # Resolve the second caller once too, so both listings find their caller cached.
    assert (await client.get("/api/auth/me", headers=clinic.staff.headers)).status_code == 200
    many, many_statements = await _statements(app, client, clinic.staff.headers)
    assert sorted(many) == sorted(f"bulk-{pk}" for pk in range(1_000, 100_001, 2_000))
    assert len(many) == 50
    assert len(many_statements) == len(few_statements) <= MAX_STATEMENTS
    # Exactly one statement reads the FHIR tables, and it carries the visibility filter.
    fhir_reads = [s for s in many_statements if "fhir_resources" in s]
    assert len(fhir_reads) == 1
    assert "organisation_patients" in fhir_reads[0]
    # Inactive records are left out inside that statement, so no second one asks which of
    # the page's patients are inactive.
    assert [s for s in many_statements if "patient_records" in s] == fhir_reads
    plan = await _plan(app, clinic.staff.user_id)
    # The visible ids drive index lookups (one organisation's index range, walked in id
    # order and stopped after a page); the 100,000 rows are never walked.
    assert "SCAN fhir_resources" not in plan, plan
    assert "Seq Scan on fhir_resources" not in plan, plan
    assert "uq_fhir_resources_type_id" in plan or "sqlite_autoindex_fhir_resources" in plan


async def _plan(app: FastAPI, user_id: int) -> str:
    runtime = runtime_of(app)
    async with runtime.session_factory() as db:
        user = await db.get(User, user_id)
        assert user is not None
        caller = Caller.of(user, "plan")
        sources = await visible_patient_sources(db, caller)
        query = patient_page_query(PatientQuery(limit=50, id_sources=sources))
        dialect = runtime.engine.dialect
        sql = str(query.compile(dialect=dialect, compile_kwargs={"literal_binds": True}))
        prefix = "EXPLAIN " if dialect.name == "postgresql" else "EXPLAIN QUERY PLAN "
        rows = (await db.execute(text(prefix + sql))).all()
    return "\n".join(str(row[-1]) for row in rows)


async def _page_cost(app: FastAPI, user_id: int) -> tuple[list[str], int]:
    """The first page's ids and the SQLite virtual-machine steps (in hundreds) it took."""
    runtime = runtime_of(app)
    async with runtime.session_factory() as db:
        user = await db.get(User, user_id)
        assert user is not None
        caller = Caller.of(user, "cost")
        query = patient_page_query(PatientQuery(
            limit=50, id_sources=await visible_patient_sources(db, caller)))
        async with sqlite_steps(db) as steps:
            rows = (await db.execute(query)).all()
    return [str(row.resource_id) for row in rows], steps[0]


async def _few_and_many_visible(app: FastAPI, clinic: Clinic, *, with_resources: bool
                                ) -> None:
    """SQLite only: the clinic holds bulk-1..20000 (staff see them all), the outsider's
    organisation bulk-5001..5060; ``with_resources`` also stores the FHIR Patients."""
    runtime = runtime_of(app)
    if runtime.engine.dialect.name != "sqlite":
        pytest.skip("counts SQLite virtual-machine steps")
    now = runtime.clock.now()
    async with runtime.engine.begin() as conn:
        if with_resources:
            await load_patients(conn, 20_000)
        await conn.execute(insert(PatientMembership), [
            {"organisation_id": clinic.org_id, "patient_id": f"bulk-{pk}", "is_primary": True,
             "created_at": now} for pk in range(1, 20_001)])
    await _join(app, clinic.outsider_org, range(5_001, 5_061))


async def test_first_page_costs_the_same_for_few_or_many_visible_patients(
    app: FastAPI, clinic: Clinic
) -> None:
    await _few_and_many_visible(app, clinic, with_resources=True)
    few, few_steps = await _page_cost(app, clinic.outsider.user_id)
    many, many_steps = await _page_cost(app, clinic.staff.user_id)
    assert few == sorted(f"bulk-{pk}" for pk in range(5_001, 5_052))
    assert many == sorted(f"bulk-{pk}" for pk in range(1, 20_001))[:51]
    # 60 visible patients or 20,000: the same page-sized walk, not a pass over all of them.
    assert many_steps <= 2 * few_steps + 10, (few_steps, many_steps)


async def _check_cost(app: FastAPI, user_id: int, patient_id: str) -> tuple[bool, int]:
    """can_see_patient's answer and the SQLite virtual-machine steps (in hundreds) it took."""
    runtime = runtime_of(app)
    async with runtime.session_factory() as db:
        user = await db.get(User, user_id)
        assert user is not None
        async with sqlite_steps(db) as steps:
            allowed = await can_see_patient(db, Caller.of(user, "check"), patient_id)
    return allowed, steps[0]


async def test_one_patient_check_costs_the_same_for_few_or_many_visible_patients(
    app: FastAPI, clinic: Clinic
) -> None:
    await _few_and_many_visible(app, clinic, with_resources=False)
    few_yes, few_yes_steps = await _check_cost(app, clinic.outsider.user_id, "bulk-5030")
    few_no, few_no_steps = await _check_cost(app, clinic.outsider.user_id, "bulk-9")
    many_yes, many_yes_steps = await _check_cost(app, clinic.staff.user_id, "bulk-19999")
    many_no, many_no_steps = await _check_cost(app, clinic.staff.user_id, "bulk-20001")
    assert (few_yes, few_no, many_yes, many_no) == (True, False, True, False)
    # Index probes either way, not a pass over the 20,000 patients the staff member sees.
    assert max(many_yes_steps, many_no_steps) <= 2 * max(few_yes_steps, few_no_steps) + 10
