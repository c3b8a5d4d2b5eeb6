"""Patients over an external FHIR server: the HTTP adapter against Quill's own /fhir facade
on a loopback socket. Listing asks only for the caller's visible ids, in ``_id`` batches."""

from __future__ import annotations

import asyncio
import socket
from collections.abc import AsyncIterator
from contextlib import asynccontextmanager
from pathlib import Path
from urllib.parse import parse_qs

import httpx
import pytest
from fastapi import FastAPI
from starlette.types import ASGIApp, Receive, Scope, Send

from quill.access.models import ExternalGrant, PatientMembership
from quill.app import create_app
from quill.clock import ManualClock
from quill.fhir.patient_listing import ID_BATCH
from quill.migrations.run import upgrade
from quill.settings import Settings
from tests.conftest import make_settings
from tests.databases import sqlite_database
from tests.helpers import logged_in, runtime_of
from tests.loopback import serve
from tests.patients.conftest import add_org
from tests.patients.support import put_patients

TOKEN = "patients-fhir-service-token-0123456789abcdef"


@pytest.fixture
def settings(database_url: str, tmp_path: Path) -> Settings:
    """The app fixture is the FHIR server here: facade on, service token set."""
    return make_settings(database_url, tmp_path, service_token=TOKEN, fhir_facade_enabled=True)


class Recorder:
    """Remembers the query of every FHIR Patient search the server receives."""

    def __init__(self, app: ASGIApp) -> None:
        self.app = app
        self.searches: list[dict[str, list[str]]] = []

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        if scope["type"] == "http" and scope["path"] == "/fhir/Patient" \
                and scope["method"] == "GET":
            self.searches.append(parse_qs(scope["query_string"].decode()))
        await self.app(scope, receive, send)


@asynccontextmanager
async def client_app(database_url: str, tmp_path: Path, clock: ManualClock, fhir_url: str,
                     **overrides: object) -> AsyncIterator[FastAPI]:
    """A second Quill whose FHIR store is the server. On SQLite it has its own file (one
    file shared by two apps would queue on its single write lock, as no real deployment
    shares a database with its FHIR server); on PostgreSQL it shares the test database."""
    url = database_url
    if database_url.startswith("sqlite"):
        (tmp_path / "client").mkdir(exist_ok=True)
        url = sqlite_database(tmp_path / "client")
        await asyncio.to_thread(upgrade, url)
    settings = make_settings(url, tmp_path / "client", fhir_url=fhir_url, fhir_token=TOKEN,
                             **overrides)
    application = create_app(settings, clock=clock)
    async with application.router.lifespan_context(application):
        yield application


@asynccontextmanager
async def external(app: FastAPI, database_url: str, tmp_path: Path, clock: ManualClock
                   ) -> AsyncIterator[tuple[FastAPI, Recorder, httpx.AsyncClient]]:
    recorder = Recorder(app)
    async with serve(recorder) as origin, \
            client_app(database_url, tmp_path, clock, f"{origin}/fhir") as quill:
        transport = httpx.ASGITransport(app=quill)
        async with httpx.AsyncClient(transport=transport, base_url="http://t") as http:
            yield quill, recorder, http


async def _members(app: FastAPI, org_id: int, ids: list[str]) -> None:
    runtime = runtime_of(app)
    async with runtime.session_factory() as db, db.begin():
        db.add_all([PatientMembership(organisation_id=org_id, patient_id=pid, is_primary=True,
                                      created_at=runtime.clock.now()) for pid in ids])


async def test_listing_asks_for_visible_ids_in_batches(
    app: FastAPI, database_url: str, tmp_path: Path, clock: ManualClock
) -> None:
    visible = [f"vis-{n:03d}" for n in range(ID_BATCH + 20)]
    hidden = [f"hid-{n:03d}" for n in range(30)]
    await put_patients(app, *visible, *hidden)
    async with external(app, database_url, tmp_path, clock) as (quill, recorder, http):
        staff = await logged_in(quill, "ext-staff", level="staff", profession="consultant")
        org = await add_org(quill, "Remote Practice", staff.user_id)
        await _members(quill, org, visible)
        recorder.searches.clear()
        first = await http.get("/api/patients", params={"limit": 200}, headers=staff.headers)
        assert first.status_code == 200
        body = first.json()
        assert body["fhir_ready"] is True
        assert [p["id"] for p in body["patients"]] == sorted(visible)
        assert body["next_cursor"] is None
        asked = [s["_id"][0].split(",") for s in recorder.searches]
        assert [len(ids) for ids in asked] == [ID_BATCH, 20]
        assert sorted(pid for ids in asked for pid in ids) == sorted(visible)
        # Paging: a small page asks only for the next batch of visible ids.
        recorder.searches.clear()
        page = (await http.get("/api/patients", params={"limit": 5},
                               headers=staff.headers)).json()
        assert [p["id"] for p in page["patients"]] == sorted(visible)[:5]
        following = (await http.get("/api/patients", params={
            "limit": 5, "cursor": page["next_cursor"]}, headers=staff.headers)).json()
        assert [p["id"] for p in following["patients"]] == sorted(visible)[5:10]
        assert all("_id" in search for search in recorder.searches)
        requested = {pid for s in recorder.searches for pid in s["_id"][0].split(",")}
        assert not requested & set(hidden)


async def test_search_inactive_and_admin_listing(
    app: FastAPI, database_url: str, tmp_path: Path, clock: ManualClock
) -> None:
    async with external(app, database_url, tmp_path, clock) as (quill, _recorder, http):
        staff = await logged_in(quill, "ext-staff", level="staff", profession="consultant")
        admin = await logged_in(quill, "ext-admin", level="admin",
                                profession="system_administrator")
        await add_org(quill, "Remote Practice", staff.user_id)
        ids = []
        for family in ("Hopper", "Lamarr", "Noether"):
            made = await http.post("/api/patients", headers=staff.headers, json={
                "given_name": "Grace", "family_name": family})
            assert made.status_code == 200
            ids.append(made.json()["id"])
        other = await http.post("/api/patients", headers=admin.headers, json={
            "given_name": "Solo", "family_name": "Admin", "nhs_number": "9434765919"})
        named = await http.get("/api/patients", params={"q": "lam"}, headers=staff.headers)
        assert [p["id"] for p in named.json()["patients"]] == [ids[1]]
        by_nhs = await http.get("/api/patients", params={"q": "9434765919"},
                                headers=admin.headers)
        assert [p["id"] for p in by_nhs.json()["patients"]] == [other.json()["id"]]
        await http.post(f"/api/patients/{ids[0]}/deactivate", headers=admin.headers)
        staff_ids = {p["id"] for p in (await http.get(
            "/api/patients", headers=staff.headers)).json()["patients"]}
        assert staff_ids == {ids[1], ids[2]}
        everyone: set[str] = set()
        cursor = None
        while True:
            params: dict[str, str | int] = {"limit": 1, "include_inactive": "true"}
            if cursor:
                params["cursor"] = cursor
            body = (await http.get("/api/patients", params=params,
                                   headers=admin.headers)).json()
            everyone |= {p["id"] for p in body["patients"]}
            cursor = body["next_cursor"]
            if cursor is None:
                break
        assert everyone == {*ids, other.json()["id"]}
        active = {p["id"] for p in (await http.get(
            "/api/patients", headers=admin.headers)).json()["patients"]}
        assert active == {ids[1], ids[2], other.json()["id"]}


async def test_read_patch_and_if_match_over_http(
    app: FastAPI, database_url: str, tmp_path: Path, clock: ManualClock
) -> None:
    async with external(app, database_url, tmp_path, clock) as (quill, _recorder, http):
        staff = await logged_in(quill, "ext-staff", level="staff", profession="consultant")
        await add_org(quill, "Remote Practice", staff.user_id)
        made = await http.post("/api/patients", headers=staff.headers, json={
            "given_name": "Mary", "family_name": "Somerville", "nhs_number": "9434765870"})
        pid = made.json()["id"]
        dup = await http.post("/api/patients", headers=staff.headers, json={
            "given_name": "Mary", "family_name": "Two", "nhs_number": "9434765870"})
        assert dup.status_code == 409
        read = await http.get(f"/api/patients/{pid}", headers=staff.headers)
        assert read.json()["name"][0]["family"] == "Somerville"
        stale = await http.patch(f"/api/patients/{pid}", json={"gender": "female"},
                                 headers={**staff.headers, "If-Match": 'W/"9"'})
        assert stale.status_code == 412
        fresh = await http.patch(f"/api/patients/{pid}", json={"gender": "female"},
                                 headers={**staff.headers, "If-Match": read.headers["etag"]})
        assert fresh.status_code == 200
        assert fresh.json()["name"][0]["family"] == "Somerville"
        assert fresh.json()["gender"] == "female"
        missing = await http.get("/api/patients/not-there", headers=staff.headers)
        assert missing.status_code == 404


def _closed_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        port: int = sock.getsockname()[1]
    return port


async def test_store_down_is_502_and_an_empty_list(
    app: FastAPI, database_url: str, tmp_path: Path, clock: ManualClock
) -> None:
    url = f"http://127.0.0.1:{_closed_port()}/fhir"
    async with client_app(database_url, tmp_path, clock, url) as quill:
        admin = await logged_in(quill, "down-admin", level="admin",
                                profession="system_administrator")
        transport = httpx.ASGITransport(app=quill)
        async with httpx.AsyncClient(transport=transport, base_url="http://t") as http:
            listed = await http.get("/api/patients", headers=admin.headers)
            assert listed.status_code == 200
            assert listed.json() == {"patients": [], "fhir_ready": False, "next_cursor": None}
            read = await http.get("/api/patients/p1", headers=admin.headers)
            assert read.status_code == 502
            assert read.json() == {"detail": "Upstream service error"}
            made = await http.post("/api/patients", headers=admin.headers,
                                   json={"given_name": "A", "family_name": "B"})
            assert made.status_code == 502


async def test_store_timeout_is_504(
    app: FastAPI, database_url: str, tmp_path: Path, clock: ManualClock
) -> None:
    # A socket that accepts connections (the kernel's backlog) but never answers.
    silent = socket.socket()
    silent.bind(("127.0.0.1", 0))
    silent.listen(8)
    try:
        url = f"http://127.0.0.1:{silent.getsockname()[1]}/fhir"
        async with client_app(database_url, tmp_path, clock, url,
                              outbound_timeout_seconds=0.2) as quill:
            admin = await logged_in(quill, "slow-admin", level="admin",
                                    profession="system_administrator")
            transport = httpx.ASGITransport(app=quill)
            async with httpx.AsyncClient(transport=transport, base_url="http://t") as http:
                made = await http.post("/api/patients", headers=admin.headers,
                                       json={"given_name": "A", "family_name": "B"})
                assert made.status_code == 504
                assert made.json() == {"detail": "Upstream service timed out"}
    finally:
        silent.close()


async def test_patient_and_external_users_over_http(
    app: FastAPI, database_url: str, tmp_path: Path, clock: ManualClock
) -> None:
    await put_patients(app, "own-record", "granted", "someone-else")
    async with external(app, database_url, tmp_path, clock) as (quill, recorder, http):
        patient = await logged_in(quill, "remote-patient", fhir_patient_id="own-record")
        relative = await logged_in(quill, "remote-relative", level="patient_advocate",
                                   profession="patient_advocate")
        runtime = runtime_of(quill)
        async with runtime.session_factory() as db, db.begin():
            now = runtime.clock.now()
            db.add_all([
                ExternalGrant(user_id=patient.user_id, patient_id="granted",
                              user_type="patient_advocate", granted_at=now, revoked_at=None),
                ExternalGrant(user_id=relative.user_id, patient_id="granted",
                              user_type="patient_advocate", granted_at=now, revoked_at=None),
                ExternalGrant(user_id=relative.user_id, patient_id="someone-else",
                              user_type="patient_advocate", granted_at=now, revoked_at=now)])
        recorder.searches.clear()
        mine = await http.get("/api/patients", headers=patient.headers)
        assert [p["id"] for p in mine.json()["patients"]] == ["granted", "own-record"]
        theirs = await http.get("/api/patients", headers=relative.headers)
        assert [p["id"] for p in theirs.json()["patients"]] == ["granted"]
        asked = [sorted(s["_id"][0].split(",")) for s in recorder.searches]
        assert asked == [["granted", "own-record"], ["granted"]]
