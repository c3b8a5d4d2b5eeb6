"""The listing's statement is built once per shape and reused with bind parameters; a
shape names the allowed sources with their values, so whom a caller may see still decides
every page."""

from __future__ import annotations

import httpx
from fastapi import FastAPI
from sqlalchemy import select

from quill.access.models import PatientMembership, StaffMembership
from quill.fhir.patient_listing import PatientQuery, _statement
from quill.patients.listing import inactive_ids
from tests.helpers import make_organisation, runtime_of
from tests.patients.conftest import Clinic


def _organisation(org_id: int) -> PatientQuery:
    return PatientQuery(limit=50, id_sources=[select(PatientMembership.patient_id).where(
        PatientMembership.organisation_id == org_id)], exclude_ids=inactive_ids())


def test_pages_of_one_shape_share_a_statement_and_other_sources_do_not() -> None:
    first, values = _statement(_organisation(7))
    later, later_values = _statement(PatientQuery(
        limit=10, id_sources=_organisation(7).id_sources, exclude_ids=inactive_ids()))
    assert later is first
    assert (values["page_size"], later_values["page_size"]) == (51, 11)
    other, _ = _statement(_organisation(8))
    assert other is not first
    after, after_values = _statement(PatientQuery(
        limit=50, id_sources=_organisation(7).id_sources, exclude_ids=inactive_ids(),
        after="p-1", name_prefix="Ad"))
    assert after is not first
    assert after_values == {"page_size": 51, "after": "p-1", "name_low": "ad",
                            "name_high": "ae"}


async def _listed(client: httpx.AsyncClient, headers: dict[str, str], **params: str
                  ) -> list[str]:
    response = await client.get("/api/patients", params=params, headers=headers)
    assert response.status_code == 200, response.text
    return [p["id"] for p in response.json()["patients"]]


async def test_a_caller_sees_the_patients_of_an_organisation_they_join_and_leave(
    app: FastAPI, client: httpx.AsyncClient, clinic: Clinic
) -> None:
    await make_organisation(app, "Own", patients=["own-1"], staff=[clinic.staff.user_id],
                            primary=False)
    other = await make_organisation(app, "Other", patients=["other-1", "other-2"])
    headers = clinic.staff.headers
    assert await _listed(client, headers) == ["own-1"]
    runtime = runtime_of(app)
    async with runtime.session_factory() as db, db.begin():
        db.add(StaffMembership(organisation_id=other, user_id=clinic.staff.user_id,
                               is_primary=False, created_at=runtime.clock.now()))
    assert await _listed(client, headers) == ["other-1", "other-2", "own-1"]
    assert await _listed(client, clinic.outsider.headers) == []
    async with runtime.session_factory() as db, db.begin():
        membership = (await db.execute(select(StaffMembership).where(
            StaffMembership.organisation_id == other,
            StaffMembership.user_id == clinic.staff.user_id))).scalar_one()
        await db.delete(membership)
    assert await _listed(client, headers) == ["own-1"]


def test_a_source_whose_values_cannot_key_a_statement_is_built_each_time() -> None:
    listed = PatientQuery(limit=50, id_sources=[select(PatientMembership.patient_id).where(
        PatientMembership.organisation_id.in_([1, 2]))])
    first, values = _statement(listed)
    assert _statement(listed)[0] is not first
    assert values == {"page_size": 51}
