"""The patient list and the patient page send a bounded number of SQL statements: the same
for 5 rows as for 500 (counted as tests/webapp/test_statement_counts.py counts them, with
the audit checkpointer's periodic chain-head read kept out of the counted window)."""

from __future__ import annotations

from sqlalchemy import insert

from quill.access.models import PatientMembership
from tests.auth.conftest import AppFactory
from tests.fhir.bulk import load_patients
from tests.helpers import make_organisation, make_user, runtime_of
from tests.webapp.patient_world import PATIENT, add_prescriptions, add_threads, store_patient
from tests.webapp.support import QUIET, page_statements, signed_in


async def test_the_patient_list_costs_the_same_for_5_or_500_patients(
        app_factory: AppFactory) -> None:
    app = await app_factory(audit_checkpoint_seconds=QUIET)
    runtime = runtime_of(app)
    async with runtime.engine.begin() as conn:
        await load_patients(conn, 505)
    few = await make_user(app, "few-patients", level="staff", profession="consultant")
    many = await make_user(app, "many-patients", level="staff", profession="consultant")
    few_org = await make_organisation(app, "Few", staff=[few.id])
    many_org = await make_organisation(app, "Many", staff=[many.id])
    now = runtime.clock.now()
    async with runtime.session_factory() as db, db.begin():
        await db.execute(insert(PatientMembership), [
            {"organisation_id": few_org if pk <= 5 else many_org,
             "patient_id": f"bulk-{pk}", "is_primary": True, "created_at": now}
            for pk in range(1, 506)])
    counts = []
    for name, expected in (("few-patients", 5), ("many-patients", 25)):
        async with signed_in(app, name) as http:
            statements = await page_statements(app, http, "/patients")
            shown = (await http.get("/patients")).text.count('class="patient-row"')
            assert shown == expected
        counts.append(statements)
    assert len(counts[0]) == len(counts[1]), counts
    assert len(counts[1]) <= 8, counts[1]


async def test_the_patient_page_costs_the_same_for_5_or_500_rows(
        app_factory: AppFactory) -> None:
    app = await app_factory(audit_checkpoint_seconds=QUIET)
    # An admin who is also a consultant sees every part of the page.
    viewer = await make_user(app, "sees-all", level="admin", profession="consultant")
    await make_organisation(app, "Clinic", staff=[viewer.id], patients=[PATIENT, "other"])
    await store_patient(app, PATIENT, given="Ada", family="Lovelace")
    await store_patient(app, "other", given="Bo", family="Other")
    await add_threads(app, PATIENT, viewer.id, 1, 5)
    await add_prescriptions(app, PATIENT, viewer, 5)
    async with signed_in(app, "sees-all") as http:
        small = await page_statements(app, http, f"/patients/{PATIENT}")
    await add_threads(app, PATIENT, viewer.id, 6, 495)
    await add_prescriptions(app, PATIENT, viewer, 495)
    # Signed in again after the slow loading, so both counts find the caller in the
    # cache (it keeps a caller for caller_cache_seconds).
    async with signed_in(app, "sees-all") as http:
        for _ in range(5):  # more access-log rows too
            assert (await http.get(f"/patients/{PATIENT}")).status_code == 200
        large = await page_statements(app, http, f"/patients/{PATIENT}")
        page = (await http.get(f"/patients/{PATIENT}")).text
        assert page.count('class="prescription-row"') == 20
        assert page.count('class="access-row"') == 20
        assert "Showing the 20 most recently active threads." in page
    assert len(small) == len(large), (small, large)
    assert len(large) <= 16, large
