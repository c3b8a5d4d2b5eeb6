"""`quill seed-demo`: demo patients, memberships, a relative with a grant, letters."""

from __future__ import annotations

import httpx
from fastapi import FastAPI
from sqlalchemy import func, select

from quill.access.models import ExternalGrant, PatientMembership
from quill.demo import seed
from quill.demo.patients import PATIENTS, RELATIVE
from quill.identity.models import User
from quill.patients.nhs_number import is_valid_nhs_number
from quill.patients.resource import nhs_number_of
from quill.settings import Settings
from tests.helpers import bearer_headers, runtime_of


async def test_seed_demo_patients_twice(app: FastAPI, client: httpx.AsyncClient,
                                        settings: Settings) -> None:
    first = await seed(settings)
    assert f"demo patients: {len(PATIENTS)} ({len(PATIENTS)} created)" in first
    second = await seed(settings)
    assert f"demo patients: {len(PATIENTS)} (0 created)" in second
    assert "demo letters added: 0" in second
    runtime = runtime_of(app)
    async with runtime.session_factory() as db:
        store = runtime.fhir.store(db)
        for spec in PATIENTS:
            patient = await store.read("Patient", spec.patient_id)
            nhs = nhs_number_of(patient)
            assert nhs == spec.nhs_number
            assert is_valid_nhs_number(nhs)
            assert patient["meta"]["versionId"] == "1"
        placed = set((await db.execute(select(PatientMembership.patient_id))).scalars().all())
        grants = (await db.execute(select(func.count()).select_from(ExternalGrant))
                  ).scalar_one()
        relative = (await db.execute(select(User).where(User.username == RELATIVE[0]))
                    ).scalar_one()
    assert {spec.patient_id for spec in PATIENTS} <= placed
    assert grants == 1
    headers = await bearer_headers(app, relative)
    listed = await client.get("/api/patients", headers=headers)
    assert [p["id"] for p in listed.json()["patients"]] == [RELATIVE[2]]
    letters = await client.get(f"/api/patients/{RELATIVE[2]}/letters", headers=headers)
    assert len(letters.json()["letters"]) == 3
