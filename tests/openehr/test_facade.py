"""The /openehr/v1 facade: who may use it, and what it refuses."""

from __future__ import annotations

import asyncio
from pathlib import Path

import httpx
import pytest
from fastapi import FastAPI
from typer.testing import CliRunner

from quill.app import create_app
from quill.cli import cli
from quill.errors import Invalid
from quill.openehr.http import LIST_QUERY, ehr_status
from quill.openehr.template_upload import letter_template, upload_template
from tests.conftest import make_settings
from tests.helpers import bearer_headers, cookie_client, logged_in, make_user
from tests.openehr.server import SERVICE_TOKEN

LOOKUP = "/openehr/v1/ehr?subject_id=p1&subject_namespace=ns"


async def test_anonymous_wrong_token_and_non_admins_get_401(
    app: FastAPI, client: httpx.AsyncClient
) -> None:
    staff = await logged_in(app, "facade-staff", level="staff", profession="nurse")
    for headers in ({}, {"Authorization": "Bearer nope"}, {"Authorization": "Bearer "},
                    staff.headers):
        response = await client.get(LOOKUP, headers=headers)
        assert response.status_code == 401, headers
        assert "ehr_id" not in response.text


async def test_empty_service_token_accepts_nobody(
    app: FastAPI, client: httpx.AsyncClient
) -> None:
    assert app.state.runtime.settings.service_token == ""
    response = await client.post("/openehr/v1/ehr", json=ehr_status("p1", "ns"),
                                 headers={"Authorization": "Bearer"})
    assert response.status_code == 401


async def test_admin_bearer_and_admin_cookie_sessions_are_accepted(
    app: FastAPI, client: httpx.AsyncClient
) -> None:
    admin = await logged_in(app, "facade-admin", level="admin", profession="administrator")
    assert (await client.get(LOOKUP, headers=admin.headers)).status_code == 404
    created = await client.post("/openehr/v1/ehr", json=ehr_status("p1", "ns"),
                                headers={**admin.headers, "Prefer": "return=representation"})
    assert created.status_code == 201
    ehr_id = created.json()["ehr_id"]["value"]
    assert created.headers["etag"] == f'"{ehr_id}"'
    again = await client.post("/openehr/v1/ehr", json=ehr_status("p1", "ns"),
                              headers=admin.headers)
    assert again.status_code == 409
    user = await make_user(app, "facade-cookie-admin", level="admin", profession="administrator")
    async with await cookie_client(app, user) as browser:
        found = await browser.get(LOOKUP)
        assert found.status_code == 200
        assert found.json()["ehr_id"]["value"] == ehr_id
        # A cookie session still needs the CSRF header to write.
        refused = await browser.post("/openehr/v1/ehr", json=ehr_status("p2", "ns"))
        assert refused.status_code == 401


async def test_the_service_token_is_accepted(facade_url: str) -> None:
    async with httpx.AsyncClient(base_url=facade_url) as http:
        response = await http.get(LOOKUP, headers={"Authorization": f"Bearer {SERVICE_TOKEN}"})
    assert response.status_code == 404


async def test_only_the_letter_list_query_is_accepted(
    app: FastAPI, client: httpx.AsyncClient
) -> None:
    admin = await logged_in(app, "aql-admin", level="admin", profession="administrator")
    params = {"ehr_id": "e", "archetype_node_id": "a",
              "before_time": "2026-01-01T00:00:00+00:00", "before_uid": "~"}
    good = {"q": LIST_QUERY, "query_parameters": params, "fetch": 5}
    ok = await client.post("/openehr/v1/query/aql", json=good, headers=admin.headers)
    assert ok.status_code == 200
    assert ok.json()["rows"] == []
    bad_bodies = [
        {**good, "q": "SELECT e/ehr_id/value FROM EHR e"},
        {**good, "query_parameters": {**params, "extra": "x"}},
        {**good, "fetch": 0},
        {**good, "offset": 10},
        {**good, "query_parameters": {**params, "before_time": "yesterday"}},
        {"q": LIST_QUERY},
    ]
    for body in bad_bodies:
        response = await client.post("/openehr/v1/query/aql", json=body, headers=admin.headers)
        assert response.status_code == 400, body
    rejected = await client.post("/openehr/v1/query/aql", json=bad_bodies[0],
                                 headers=admin.headers)
    assert "Unsupported AQL" in rejected.json()["message"]
    not_json = await client.post("/openehr/v1/query/aql", content=b"{", headers=admin.headers)
    assert not_json.status_code == 400


async def test_update_needs_a_matching_if_match(
    app: FastAPI, client: httpx.AsyncClient
) -> None:
    admin = await logged_in(app, "put-admin", level="admin", profession="administrator")
    path = "/openehr/v1/ehr/e1/composition/00000000-0000-0000-0000-000000000001"
    missing = await client.put(path, json={}, headers=admin.headers)
    assert missing.status_code == 400
    other = await client.put(path, json={}, headers={
        **admin.headers, "If-Match": '"00000000-0000-0000-0000-000000000002::x::1"'})
    assert other.status_code == 400


async def test_facade_is_off_when_disabled(database_url: str, tmp_path: Path) -> None:
    settings = make_settings(database_url, tmp_path, openehr_facade_enabled=False)
    application = create_app(settings)
    async with application.router.lifespan_context(application):
        transport = httpx.ASGITransport(app=application)
        async with httpx.AsyncClient(transport=transport, base_url="http://t") as http:
            response = await http.get(LOOKUP, headers={"Authorization": "Bearer x"})
    assert response.status_code == 404


async def test_template_upload_then_already_present(facade_url: str) -> None:
    headers = {"Authorization": f"Bearer {SERVICE_TOKEN}"}
    async with httpx.AsyncClient(base_url=f"{facade_url}/openehr/v1", headers=headers) as http:
        assert await upload_template(http, letter_template()) == "uploaded"
        assert await upload_template(http, letter_template()) == "already present"
        with pytest.raises(Invalid):
            await upload_template(http, "<template/>")


async def test_cli_upload_template(
    facade_url: str, monkeypatch: pytest.MonkeyPatch, tmp_path: Path, database_url: str
) -> None:
    monkeypatch.setenv("QUILL_EHRBASE_URL", f"{facade_url}/openehr/v1")
    monkeypatch.setenv("QUILL_EHRBASE_TOKEN", SERVICE_TOKEN)
    monkeypatch.setenv("QUILL_DATA_DIR", str(tmp_path))
    monkeypatch.setenv("QUILL_DATABASE_URL", database_url)
    runner = CliRunner()
    first = await asyncio.to_thread(runner.invoke, cli, ["upload-template"])
    assert first.exit_code == 0, first.output
    assert "uploaded" in first.output
    second = await asyncio.to_thread(runner.invoke, cli, ["upload-template"])
    assert second.exit_code == 0
    assert "already present" in second.output
    monkeypatch.setenv("QUILL_EHRBASE_TOKEN", "wrong")
    refused = await asyncio.to_thread(runner.invoke, cli, ["upload-template"])
    assert refused.exit_code == 1
    monkeypatch.setenv("QUILL_EHRBASE_URL", "")
    unset = await asyncio.to_thread(runner.invoke, cli, ["upload-template"])
    assert unset.exit_code == 1


async def test_patient_sessions_get_401(app: FastAPI) -> None:
    user = await make_user(app, "facade-patient")
    headers = await bearer_headers(app, user)
    transport = httpx.ASGITransport(app=app)
    async with httpx.AsyncClient(transport=transport, base_url="http://t") as http:
        assert (await http.get(LOOKUP, headers=headers)).status_code == 401
