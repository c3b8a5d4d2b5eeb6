"""The /fhir facade: unsupported versus unknown, deleted versus never-existed, JSON Patch,
validation on write, result parameters and content negotiation."""

from __future__ import annotations

from typing import Any

import httpx
import pytest

from tests.fhir.conftest import SERVICE_TOKEN

SVC = {"Authorization": f"Bearer {SERVICE_TOKEN}"}
PATCH = {**SVC, "Content-Type": "application/json-patch+json"}


def _outcome(response: httpx.Response, status: int, code: str) -> dict[str, Any]:
    assert response.status_code == status, response.text
    assert response.headers["content-type"].startswith("application/fhir+json")
    body: dict[str, Any] = response.json()
    assert body["resourceType"] == "OperationOutcome"
    assert body["issue"][0]["code"] == code
    return body


async def _create(client: httpx.AsyncClient, resource: dict[str, Any]) -> dict[str, Any]:
    response = await client.post(f"/fhir/{resource['resourceType']}", headers=SVC,
                                 json=resource)
    assert response.status_code == 201, response.text
    created: dict[str, Any] = response.json()
    return created


async def test_unsupported_interactions_are_405(client: httpx.AsyncClient) -> None:
    response = await client.get("/fhir", headers=SVC)
    _outcome(response, 405, "not-supported")
    assert response.headers["allow"] == "POST"
    response = await client.post("/fhir/Patient/x", headers=SVC, json={})
    _outcome(response, 405, "not-supported")
    assert set(response.headers["allow"].split(", ")) == {"GET", "PUT", "PATCH", "DELETE"}
    _outcome(await client.delete("/fhir/Patient/x/_history/1", headers=SVC), 405,
             "not-supported")
    _outcome(await client.get("/fhir/Patient/_history", headers=SVC), 405, "not-supported")
    _outcome(await client.get("/fhir/_history", headers=SVC), 405, "not-supported")
    _outcome(await client.delete("/fhir/metadata", headers=SVC), 405, "not-supported")


@pytest.mark.parametrize(("method", "path"), [
    ("POST", "/fhir/Patient/$validate"), ("GET", "/fhir/Patient/$validate"),
    ("GET", "/fhir/Patient/x/$everything"), ("POST", "/fhir/$process-message"),
    ("GET", "/fhir/$meta"),
])
async def test_operations_are_501(client: httpx.AsyncClient, method: str, path: str) -> None:
    response = await client.request(method, path, headers=SVC, json={})
    _outcome(response, 501, "not-supported")


async def test_unknown_types_and_paths_stay_404(client: httpx.AsyncClient) -> None:
    _outcome(await client.get("/fhir/Spaceship", headers=SVC), 404, "not-found")
    _outcome(await client.post("/fhir/Spaceship/$validate", headers=SVC, json={}), 404,
             "not-found")
    _outcome(await client.post("/fhir/Spaceship/1", headers=SVC, json={}), 404, "not-found")
    _outcome(await client.get("/fhir/Patient/1/2/3/4", headers=SVC), 404, "not-found")


async def test_deleted_is_410_and_never_existed_is_404(client: httpx.AsyncClient) -> None:
    made = await _create(client, {"resourceType": "Patient", "gender": "male"})
    url = f"/fhir/Patient/{made['id']}"
    assert (await client.delete(url, headers=SVC)).status_code == 204
    _outcome(await client.get(url, headers=SVC), 410, "deleted")
    _outcome(await client.get(f"{url}/_history/2", headers=SVC), 410, "deleted")
    assert (await client.get(f"{url}/_history/1", headers=SVC)).status_code == 200
    _outcome(await client.get("/fhir/Patient/never-was", headers=SVC), 404, "not-found")
    _outcome(await client.get(f"{url}/_history/3", headers=SVC), 404, "not-found")
    _outcome(await client.patch(url, headers=PATCH, json=[]), 410, "deleted")


async def test_json_patch_with_if_match(client: httpx.AsyncClient) -> None:
    made = await _create(client, {"resourceType": "Patient", "gender": "male",
                                  "name": [{"family": "Patched", "given": ["Al"]}]})
    url = f"/fhir/Patient/{made['id']}"
    ops = [{"op": "replace", "path": "/gender", "value": "female"},
           {"op": "add", "path": "/name/0/given/-", "value": "Bo"}]
    response = await client.patch(url, headers={**PATCH, "If-Match": 'W/"1"'}, json=ops)
    assert response.status_code == 200, response.text
    assert response.headers["etag"] == 'W/"2"'
    body = response.json()
    assert body["gender"] == "female"
    assert body["name"][0]["given"] == ["Al", "Bo"]
    assert (await client.get(url, headers=SVC)).json()["meta"]["versionId"] == "2"
    stale = await client.patch(url, headers={**PATCH, "If-Match": 'W/"1"'}, json=ops)
    _outcome(stale, 412, "conflict")
    # The patched resource is validated like any write.
    bad = [{"op": "replace", "path": "/gender", "value": "woman"}]
    _outcome(await client.patch(url, headers=PATCH, json=bad), 422, "processing")
    failed = [{"op": "test", "path": "/gender", "value": "male"}]
    _outcome(await client.patch(url, headers=PATCH, json=failed), 422, "processing")
    _outcome(await client.patch(url, headers=PATCH,
                                json=[{"op": "replace", "path": "/id", "value": "z"}]),
             422, "processing")
    _outcome(await client.patch(url, headers=PATCH, json=[{"op": "jump"}]), 400, "invalid")
    _outcome(await client.patch(url, headers=SVC, json={"gender": "male"}), 415,
             "not-supported")
    _outcome(await client.patch("/fhir/Patient/never-was", headers=PATCH, json=[]), 404,
             "not-found")
    assert (await client.get(url, headers=SVC)).json()["gender"] == "female"


async def test_writes_check_bindings_and_references(client: httpx.AsyncClient) -> None:
    request = {"resourceType": "MedicationRequest", "status": "bogus", "intent": "order",
               "medicationCodeableConcept": {"text": "Morphine"},
               "subject": {"reference": "Patient/x"}}
    body = _outcome(await client.post("/fhir/MedicationRequest", headers=SVC, json=request),
                    422, "processing")
    assert any("status" in issue["diagnostics"] for issue in body["issue"])
    request["status"] = "active"
    body = _outcome(await client.post("/fhir/MedicationRequest", headers=SVC, json=request),
                    422, "processing")
    assert any("Patient/x" in issue["diagnostics"] for issue in body["issue"])
    assert (await client.get("/fhir/MedicationRequest", headers=SVC)).json()["total"] == 0


async def test_summary_count_and_include(client: httpx.AsyncClient) -> None:
    pat = await _create(client, {"resourceType": "Patient", "gender": "other"})
    ref = {"reference": f"Patient/{pat['id']}"}
    for _ in range(3):
        await _create(client, {"resourceType": "MedicationRequest", "status": "active",
                               "intent": "order", "subject": ref,
                               "medicationCodeableConcept": {"text": "x"}})
    counted = (await client.get("/fhir/MedicationRequest",
                                params={"patient": pat["id"], "_summary": "count"},
                                headers=SVC)).json()
    assert counted["total"] == 3
    assert counted.get("entry", []) == []
    page = (await client.get("/fhir/MedicationRequest",
                             params={"_include": "MedicationRequest:subject", "_count": "2"},
                             headers=SVC)).json()
    modes = [(e["resource"]["resourceType"], e["search"]["mode"]) for e in page["entry"]]
    assert modes == [("MedicationRequest", "match")] * 2 + [("Patient", "include")]
    next_url = next(link["url"] for link in page["link"] if link["relation"] == "next")
    second = (await client.get(next_url, headers=SVC)).json()
    assert [e["search"]["mode"] for e in second["entry"]] == ["match", "include"]
    root = await _create(client, {"resourceType": "Communication", "status": "completed",
                                  "subject": ref})
    reply = await _create(client, {"resourceType": "Communication", "status": "completed",
                                   "subject": ref,
                                   "partOf": [{"reference": f"Communication/{root['id']}"}]})
    thread = (await client.get("/fhir/Communication",
                               params={"_id": reply["id"], "_include": "Communication:part-of"},
                               headers=SVC)).json()
    assert [(e["resource"]["id"], e["search"]["mode"]) for e in thread["entry"]] == [
        (reply["id"], "match"), (root["id"], "include")]
    _outcome(await client.get("/fhir/Communication", params={"_include": "Patient:link"},
                              headers=SVC), 400, "invalid")
    _outcome(await client.get("/fhir/Communication", params={"_summary": "text"},
                              headers=SVC), 400, "invalid")


@pytest.mark.parametrize(("params", "accept"), [
    ({"_format": "xml"}, None), ({"_format": "application/fhir+xml"}, None),
    ({}, "application/fhir+xml"), ({}, "application/xml, text/xml"),
    ({}, "application/fhir+json;q=0, application/xml"),
])
async def test_xml_is_406(client: httpx.AsyncClient, params: dict[str, str],
                          accept: str | None) -> None:
    headers = {**SVC, **({"Accept": accept} if accept else {})}
    for path in ("/fhir/Patient", "/fhir/metadata"):
        response = await client.get(path, params=params, headers=headers)
        _outcome(response, 406, "not-supported")


async def test_json_formats_are_served(client: httpx.AsyncClient) -> None:
    for params, accept in (({"_format": "json"}, "application/fhir+json"),
                           ({"_format": "application/fhir+json"}, "application/json"),
                           ({}, "text/html,application/xml;q=0.9,*/*;q=0.8")):
        response = await client.get("/fhir/Patient", params=params,
                                    headers={**SVC, "Accept": accept})
        assert response.status_code == 200, response.text


async def test_metadata_is_public_and_nothing_else(client: httpx.AsyncClient) -> None:
    response = await client.get("/fhir/metadata")
    assert response.status_code == 200
    assert response.json()["resourceType"] == "CapabilityStatement"
    for path in ("/fhir/Patient", "/fhir/Patient/x", "/fhir/Patient/$validate", "/fhir",
                 "/fhir/_history"):
        assert (await client.get(path)).status_code == 401, path
    assert (await client.patch("/fhir/Patient/x", json=[])).status_code == 401
