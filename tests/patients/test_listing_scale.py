"""GET /patients among 100,000 stored patients: a bounded number of SQL statements, the
same whether the caller may see 5 patients or 50 (the filter lives inside the query)."""

from __future__ import annotations

import httpx
from fastapi import FastAPI
from sqlalchemy import text

from quill.access.policy import visible_patient_ids
from quill.auth.deps import Caller
from quill.fhir.patient_listing import PatientQuery, patient_page_query
from quill.organisations.models import PatientMembership
from quill.users.models import User
from tests.fhir.bulk import load_patients
from tests.helpers import runtime_of
from tests.patients.conftest import Clinic
from tests.statements import count_statements

BULK = 100_000
# Authentication (token session + user), the audit row, the page and its activation states.
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
    many, many_statements = await _statements(app, client, clinic.staff.headers)
    assert sorted(many) == sorted(f"bulk-{pk}" for pk in range(1_000, 100_001, 2_000))
    assert len(many) == 50
    assert len(many_statements) == len(few_statements) <= MAX_STATEMENTS
    # Exactly one statement reads the FHIR tables, and it carries the visibility filter.
    fhir_reads = [s for s in many_statements if "fhir_resources" in s]
    assert len(fhir_reads) == 1
    assert "organisation_patients" in fhir_reads[0]
    plan = await _plan(app, clinic.staff.user_id)
    # The visible ids drive index lookups; the 100,000 rows are never walked.
    assert "SCAN fhir_resources" not in plan, plan
    assert "Seq Scan on fhir_resources" not in plan, plan
    assert "uq_fhir_resources_type_id" in plan or "sqlite_autoindex_fhir_resources" in plan


async def _plan(app: FastAPI, user_id: int) -> str:
    runtime = runtime_of(app)
    async with runtime.session_factory() as db:
        user = await db.get(User, user_id)
        assert user is not None
        caller = Caller.of(user, "plan")
        query = patient_page_query(PatientQuery(limit=50,
                                                only_ids=visible_patient_ids(caller)))
        dialect = runtime.engine.dialect
        sql = str(query.compile(dialect=dialect, compile_kwargs={"literal_binds": True}))
        prefix = "EXPLAIN " if dialect.name == "postgresql" else "EXPLAIN QUERY PLAN "
        rows = (await db.execute(text(prefix + sql))).all()
    return "\n".join(str(row[-1]) for row in rows)
