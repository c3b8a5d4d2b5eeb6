"""The /fhir facade: protection, FHIR content type, status codes and OperationOutcome errors."""

from __future__ import annotations

from pathlib import Path
from typing import Any

import httpx
from fastapi import FastAPI

from quill.app import create_app
from quill.settings import Settings
from tests.conftest import make_settings
from tests.fhir.conftest import SERVICE_TOKEN
from tests.helpers import cookie_client, logged_in, make_user

SVC = {"Authorization": f"Bearer {SERVICE_TOKEN}"}
FHIR = "application/fhir+json"


def _outcome(response: httpx.Response, status: int) -> dict[str, Any]:
    assert response.status_code == status, response.text
    assert response.headers["content-type"].startswith(FHIR)
    body: dict[str, Any] = response.json()
    assert body["resourceType"] == "OperationOutcome"
    assert body["issue"][0]["severity"] == "error"
    return body


async def test_anonymous_wrong_token_and_non_admin_get_401(app: FastAPI,
                                                           client: httpx.AsyncClient) -> None:
    staff = await logged_in(app, "fhir-staff", level="staff", profession="doctor")
    for headers in ({}, {"Authorization": "Bearer wrong"}, staff.headers,
                    {"Authorization": f"Basic {SERVICE_TOKEN}"}):
        for method, path in (("GET", "/fhir/Patient/x/_history"), ("GET", "/fhir/Patient"),
                             ("GET", "/fhir/Patient/x"), ("POST", "/fhir/Patient"),
                             ("GET", "/fhir/Nope/1/2/3")):
            response = await client.request(method, path, headers=headers)
            body = _outcome(response, 401)
            assert "entry" not in body


async def test_admin_session_and_service_token_are_accepted(app: FastAPI,
                                                            client: httpx.AsyncClient) -> None:
    admin = await logged_in(app, "fhir-admin", level="admin", profession="doctor")
    for headers in (admin.headers, SVC):
        response = await client.get("/fhir/metadata", headers=headers)
        assert response.status_code == 200
        assert response.headers["content-type"].startswith(FHIR)


async def test_cookie_admin_needs_csrf_for_writes(app: FastAPI) -> None:
    user = await make_user(app, "fhir-cookie-admin", level="admin", profession="doctor")
    http = await cookie_client(app, user)
    async with http:
        body = {"resourceType": "Patient"}
        assert (await http.get("/fhir/Patient")).status_code == 200
        assert (await http.post("/fhir/Patient", json=body)).status_code == 401
        ok = await http.post("/fhir/Patient", json=body,
                             headers={"X-CSRF-Token": http.cookies["XSRF-TOKEN"]})
        assert ok.status_code == 201


async def test_empty_service_token_setting_accepts_no_token(database_url: str,
                                                            tmp_path: Path) -> None:
    settings = make_settings(database_url, tmp_path, service_token="", fhir_facade_enabled=True)
    app = create_app(settings)
    async with app.router.lifespan_context(app), httpx.AsyncClient(
            transport=httpx.ASGITransport(app=app), base_url="http://t") as http:
        for header in ("Bearer ", "Bearer", "Bearer  "):
            response = await http.get("/fhir/Patient", headers={"Authorization": header})
            assert response.status_code == 401


async def test_facade_off_unless_enabled(database_url: str, tmp_path: Path) -> None:
    settings: Settings = make_settings(database_url, tmp_path, service_token=SERVICE_TOKEN,
                                       fhir_facade_enabled=False)
    app = create_app(settings)
    async with app.router.lifespan_context(app), httpx.AsyncClient(
            transport=httpx.ASGITransport(app=app), base_url="http://t") as http:
        assert (await http.get("/fhir/metadata", headers=SVC)).status_code == 404


async def test_metadata_lists_exactly_what_is_supported(client: httpx.AsyncClient) -> None:
    statement = (await client.get("/fhir/metadata", headers=SVC)).json()
    assert statement["resourceType"] == "CapabilityStatement"
    resources = {r["type"]: r for r in statement["rest"][0]["resource"]}
    assert set(resources) == {"Patient", "Practitioner", "Organization", "Communication",
                              "MedicationRequest"}
    patient_params = {p["name"] for p in resources["Patient"]["searchParam"]}
    assert patient_params == {"_id", "_lastUpdated", "identifier", "name", "family", "given",
                              "birthdate", "gender", "active"}
    comm_params = {p["name"] for p in resources["Communication"]["searchParam"]}
    assert {"subject", "part-of", "sender", "recipient", "sent"} <= comm_params


async def test_create_update_read_delete_over_rest(client: httpx.AsyncClient) -> None:
    created = await client.post("/fhir/Patient", headers={**SVC, "Content-Type": FHIR},
                                json={"resourceType": "Patient", "gender": "male"})
    assert created.status_code == 201
    body = created.json()
    assert created.headers["etag"] == 'W/"1"'
    assert created.headers["location"].endswith(f"/fhir/Patient/{body['id']}/_history/1")
    assert created.headers["content-type"].startswith(FHIR)
    url = f"/fhir/Patient/{body['id']}"
    stale = await client.put(url, headers={**SVC, "If-Match": 'W/"9"'}, json=body)
    _outcome(stale, 412)
    fresh = await client.put(url, headers={**SVC, "If-Match": 'W/"1"'},
                             json={**body, "gender": "female"})
    assert fresh.status_code == 200
    assert fresh.headers["etag"] == 'W/"2"'
    assert (await client.get(f"{url}/_history/1", headers=SVC)).json()["gender"] == "male"
    history = (await client.get(f"{url}/_history", headers=SVC)).json()
    assert history["type"] == "history"
    assert history["total"] == 2
    assert (await client.delete(url, headers=SVC)).status_code == 204
    _outcome(await client.get(url, headers=SVC), 410)
    mismatch = await client.put("/fhir/Patient/other", headers=SVC, json=body)
    _outcome(mismatch, 400)


async def test_search_bundle_has_total_and_next(client: httpx.AsyncClient) -> None:
    for n in range(3):
        await client.post("/fhir/Patient", headers=SVC,
                          json={"resourceType": "Patient", "name": [{"family": f"Bundle{n}"}]})
    first = (await client.get("/fhir/Patient", params={"family": "bundle", "_count": "2"},
                              headers=SVC)).json()
    assert first["type"] == "searchset"
    assert first["total"] == 3
    assert len(first["entry"]) == 2
    next_url = next(link["url"] for link in first["link"] if link["relation"] == "next")
    second = (await client.get(next_url, headers=SVC)).json()
    assert len(second["entry"]) == 1
    assert all(link["relation"] != "next" for link in second["link"])


async def test_bad_input_gets_4xx_operation_outcome(client: httpx.AsyncClient) -> None:
    _outcome(await client.post("/fhir/Patient", headers={**SVC, "Content-Type": FHIR},
                               content=b"{not json"), 400)
    _outcome(await client.post("/fhir/Patient", headers={**SVC, "Content-Type": FHIR},
                               content=b"\xff\xfe"), 400)
    invalid = _outcome(await client.post(
        "/fhir/Patient", headers=SVC,
        json={"resourceType": "Patient", "birthDate": "31/12/1980"}), 422)
    assert any("birthDate" in issue["diagnostics"] for issue in invalid["issue"])
    _outcome(await client.post("/fhir/Patient", headers=SVC,
                               json={"resourceType": "Observation"}), 400)
    _outcome(await client.post("/fhir/Patient", headers=SVC, json=[1, 2]), 400)
    _outcome(await client.get("/fhir/Spaceship", headers=SVC), 404)
    _outcome(await client.get("/fhir/Spaceship/1", headers=SVC), 404)
    _outcome(await client.post("/fhir/Spaceship", headers=SVC, json={}), 404)
    _outcome(await client.get("/fhir/Patient", params={"colour": "red"}, headers=SVC), 400)
    _outcome(await client.get("/fhir/Patient", params={"name:exact": "x"}, headers=SVC), 400)
    _outcome(await client.get("/fhir/Patient", params={"_count": "many"}, headers=SVC), 400)
    _outcome(await client.get("/fhir/Patient", params={"_cursor": "garbage"}, headers=SVC), 400)
    _outcome(await client.get("/fhir/Patient/bad id!", headers=SVC), 404)
    _outcome(await client.get("/fhir/Patient/x/_history/abc", headers=SVC), 404)
    _outcome(await client.patch("/fhir/Patient/x", headers=SVC, json={}), 415)
    _outcome(await client.post("/fhir", headers=SVC, json={"resourceType": "Bundle",
                                                           "type": "batch"}), 400)


async def test_api_errors_keep_detail_shape(client: httpx.AsyncClient) -> None:
    response = await client.get("/api/no-such-route")
    assert response.status_code == 404
    assert "detail" in response.json()


async def test_store_latency_is_recorded(app: FastAPI, client: httpx.AsyncClient) -> None:
    await client.get("/fhir/Patient", headers=SVC)
    metrics = (await client.get("/metrics")).text
    sample = ('quill_store_operation_duration_seconds_count'
              '{operation="search",store="fhir_embedded"}')
    assert sample in metrics
