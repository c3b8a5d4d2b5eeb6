"""Bulk reads through the facades are audited like single reads: FHIR search and history,
and every openEHR facade call, name who, what, and the patients where known."""

from __future__ import annotations

from pathlib import Path

import httpx
import pytest
from fastapi import FastAPI

from quill.clock import ManualClock
from quill.letters.composition import ARCHETYPE_ID
from quill.letters.service import SUBJECT_NAMESPACE
from quill.openehr.http import ehr_status
from quill.settings import Settings
from tests.audit_rows import audit_actions
from tests.conftest import make_settings
from tests.helpers import logged_in
from tests.openehr.conftest import adapter_for, facade_server
from tests.openehr.test_contract import letter

TOKEN = "audit-test-service-token-0123456789abcdef"
SVC = {"Authorization": f"Bearer {TOKEN}"}


@pytest.fixture
def settings(database_url: str, tmp_path: Path) -> Settings:
    return make_settings(database_url, tmp_path, service_token=TOKEN,
                         fhir_facade_enabled=True, openehr_facade_enabled=True)


async def _seed_fhir(client: httpx.AsyncClient) -> None:
    for patient in ("p1", "p2"):
        put = await client.put(f"/fhir/Patient/{patient}", headers=SVC,
                               json={"resourceType": "Patient", "id": patient})
        assert put.status_code in (200, 201), put.text
    message = {"resourceType": "Communication", "status": "completed",
               "subject": {"reference": "Patient/p1"}}
    created = await client.post("/fhir/Communication", headers=SVC, json=message)
    assert created.status_code == 201, created.text


async def test_fhir_search_and_history_are_audited(app: FastAPI,
                                                   client: httpx.AsyncClient) -> None:
    admin = await logged_in(app, "audit-fhir-admin", level="admin", profession="doctor")
    await _seed_fhir(client)
    before = len(await audit_actions(app))
    assert (await client.get("/fhir/Patient", headers=admin.headers)).status_code == 200
    assert (await client.get("/fhir/Communication?subject=Patient/p1",
                             headers=admin.headers)).status_code == 200
    assert (await client.get("/fhir/Patient?_id=nobody", headers=SVC)).status_code == 200
    assert (await client.get("/fhir/Patient/p2/_history",
                             headers=admin.headers)).status_code == 200
    assert (await audit_actions(app))[before:] == [
        ("fhir.search", "p1", admin.user_id), ("fhir.search", "p2", admin.user_id),
        ("fhir.search", "p1", admin.user_id),
        ("fhir.search", None, None),  # nothing found: who searched is still written
        ("fhir.history", "p2", admin.user_id),
    ]


async def test_every_openehr_facade_call_is_audited(
        app: FastAPI, client: httpx.AsyncClient, database_url: str, tmp_path: Path,
        clock: ManualClock) -> None:
    async with facade_server(database_url, tmp_path, clock) as url:
        adapter = adapter_for(url, database_url, tmp_path)
        try:
            ehr = await adapter.ensure_ehr("p7", SUBJECT_NAMESPACE)
            uid = await adapter.create_composition(ehr, letter(clock, "Draft"))
            await adapter.read_composition(ehr, str(uid))
            await adapter.update_composition(ehr, str(uid), letter(clock, "Final"))
            await adapter.list_compositions(ehr, ARCHETYPE_ID, limit=5)
        finally:
            await adapter.client.aclose()
    actions = await audit_actions(app)
    assert [action for action, _p, _a in actions] == [
        "openehr.ehr_lookup", "openehr.ehr_create", "openehr.composition_create",
        "openehr.composition_read", "openehr.composition_update", "openehr.query"]
    assert {patient for _a, patient, _actor in actions} == {"p7"}
    admin = await logged_in(app, "audit-ehr-admin", level="admin", profession="doctor")
    found = await client.get(f"/openehr/v1/ehr?subject_id=p7&subject_namespace="
                             f"{SUBJECT_NAMESPACE}", headers=admin.headers)
    assert found.status_code == 200
    other = await client.post("/openehr/v1/ehr", json=ehr_status("x1", "elsewhere"),
                              headers=admin.headers)
    assert other.status_code == 201
    assert (await audit_actions(app))[-2:] == [
        ("openehr.ehr_lookup", "p7", admin.user_id),
        ("openehr.ehr_create", None, admin.user_id),  # not a Quill patient's EHR
    ]
