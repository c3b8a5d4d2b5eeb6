"""A world with two FHIR Patients, ready for messaging tests."""

from __future__ import annotations

from typing import Any

import httpx
from fastapi import FastAPI

from tests.access.world import World, build_world
from tests.helpers import runtime_of


async def add_patient(app: FastAPI, patient_id: str) -> None:
    runtime = runtime_of(app)
    async with runtime.session_factory() as db, db.begin():
        await runtime.fhir.store(db).update({
            "resourceType": "Patient", "id": patient_id,
            "name": [{"family": "Example", "given": [patient_id]}],
        })


async def messaging_world(app: FastAPI) -> World:
    """The access tests' world (its patients exist in FHIR), with its own name prefix."""
    return await build_world(app, prefix="m-")


async def start_thread(client: httpx.AsyncClient, world: World, **overrides: object
                       ) -> dict[str, Any]:
    body: dict[str, object] = {
        "patient_id": world.patient_a, "subject": "Blood results",
        "initial_message": "Potassium is 5.9, please review.", "participant_ids": [],
    }
    body.update(overrides)
    response = await client.post("/api/conversations", json=body,
                                 headers=world.headers["staff_same"])
    assert response.status_code == 200, response.text
    data: dict[str, Any] = response.json()
    return data
