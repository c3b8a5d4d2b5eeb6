"""Demo letters are seeded once; the letters API works the same over the EHRbase adapter."""

from __future__ import annotations

import asyncio
from pathlib import Path

import httpx
from fastapi import FastAPI

from quill.app import create_app
from quill.clock import ManualClock
from quill.demo.letters import DEMO_LETTERS, seed_letters
from quill.letters.composition import ARCHETYPE_ID
from quill.letters.service import SUBJECT_NAMESPACE
from quill.migrations.run import upgrade
from tests.conftest import make_settings
from tests.databases import sqlite_database
from tests.helpers import logged_in, runtime_of
from tests.openehr.conftest import facade_server
from tests.openehr.server import SERVICE_TOKEN
from tests.patients.support import put_patients


async def test_seed_letters_is_idempotent(app: FastAPI) -> None:
    runtime = runtime_of(app)
    patients = ["demo-1", "demo-2"]
    async with runtime.session_factory() as db, db.begin():
        assert await seed_letters(db, runtime, patients) == 2 * len(DEMO_LETTERS)
    async with runtime.session_factory() as db, db.begin():
        assert await seed_letters(db, runtime, patients) == 0
        store = runtime.compositions.store(db)
        for patient in patients:
            ehr = await store.find_ehr(patient, SUBJECT_NAMESPACE)
            assert ehr is not None
            page = await store.list_compositions(ehr, ARCHETYPE_ID, limit=10)
            assert [item.name for item in page.items] == [title for title, _ in DEMO_LETTERS]


async def test_letters_api_over_the_ehrbase_adapter(
    app: FastAPI, database_url: str, tmp_path: Path, clock: ManualClock
) -> None:
    # Two apps sharing one SQLite file would queue on its single write lock (the request
    # holds it while calling the other app), so on SQLite the "EHRbase" gets its own file,
    # as a real EHRbase has its own database.
    server_db = database_url
    if database_url.startswith("sqlite"):
        server_db = sqlite_database(tmp_path)
        await asyncio.to_thread(upgrade, server_db)
    async with facade_server(server_db, tmp_path, clock) as url:
        settings = make_settings(database_url, tmp_path / "external",
                                 ehrbase_url=f"{url}/openehr/v1", ehrbase_token=SERVICE_TOKEN)
        external = create_app(settings, clock=clock)
        async with external.router.lifespan_context(external):
            admin = await logged_in(external, "ext-admin", level="admin",
                                    profession="administrator")
            await put_patients(external, "pat-x", "pat-y")
            transport = httpx.ASGITransport(app=external)
            async with httpx.AsyncClient(transport=transport, base_url="http://t") as http:
                created = await http.post("/api/patients/pat-x/letters", headers=admin.headers,
                                          json={"title": "Via EHRbase", "body": "Hello"})
                assert created.status_code == 200
                uid = created.json()["composition_uid"]
                listed = await http.get("/api/patients/pat-x/letters", headers=admin.headers)
                assert [item["composition_uid"] for item in listed.json()["letters"]] == [uid]
                one = await http.get(f"/api/patients/pat-x/letters/{uid}", headers=admin.headers)
                assert one.json()["data"]["name"]["value"] == "Via EHRbase"
                other = await http.get(f"/api/patients/pat-y/letters/{uid}",
                                       headers=admin.headers)
                assert other.status_code == 404
