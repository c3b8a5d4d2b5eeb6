"""Test-side shortcuts for patients: store Patient resources without the API."""

from __future__ import annotations

from typing import Any

from fastapi import FastAPI

from quill.fhir.port import Resource
from tests.helpers import runtime_of


async def put_patients(app: FastAPI, *patient_ids: str, **fields: Any) -> list[Resource]:
    """Create (or overwrite) minimal Patient resources at the given ids, committed."""
    runtime = runtime_of(app)
    stored: list[Resource] = []
    async with runtime.session_factory() as db, db.begin():
        store = runtime.fhir.store(db)
        for pid in patient_ids:
            stored.append(await store.update({
                "resourceType": "Patient", "id": pid,
                "name": [{"family": f"Family-{pid}", "given": ["Test"]}], **fields}))
    return stored
