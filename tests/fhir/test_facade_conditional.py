"""The /fhir facade over ASGI: transaction Bundles with urn:uuid placeholders, conditional
create (If-None-Exist), update and delete by search, and the CapabilityStatement flags that
announce them. Answers are checked as FHIR with the fhir.resources models."""

from __future__ import annotations

from typing import Any

import httpx
from fhir.resources.R4B import get_fhir_model_class

from tests.fhir.conftest import SERVICE_TOKEN

SVC = {"Authorization": f"Bearer {SERVICE_TOKEN}", "Content-Type": "application/fhir+json"}
MRN = "urn:mrn"
ORG = "urn:uuid:3d2a7c10-8b4e-4f61-a5d9-0c6e1b2f4a77"
PAT = "urn:uuid:9e5b1d20-6c3f-4a82-b7e4-2f8a0d1c3e99"


def patient(mrn: str, **fields: Any) -> dict[str, Any]:
    return {"resourceType": "Patient", "identifier": [{"system": MRN, "value": mrn}],
            "name": [{"family": "Cond"}], **fields}


def fhir_json(response: httpx.Response, status: int, resource_type: str) -> dict[str, Any]:
    """The answer's body, after checking status, content type and R4 validity."""
    assert response.status_code == status, response.text
    assert response.headers["content-type"].startswith("application/fhir+json")
    body: dict[str, Any] = response.json()
    assert body["resourceType"] == resource_type
    get_fhir_model_class(resource_type).model_validate(body)
    return body


def outcome(response: httpx.Response, status: int) -> dict[str, Any]:
    return fhir_json(response, status, "OperationOutcome")


async def ids(client: httpx.AsyncClient, mrn: str) -> list[str]:
    found = await client.get("/fhir/Patient", params={"identifier": f"{MRN}|{mrn}"},
                             headers=SVC)
    bundle = fhir_json(found, 200, "Bundle")
    return [str(entry["resource"]["id"]) for entry in bundle.get("entry", [])]


async def test_transaction_rewrites_placeholders_to_assigned_ids(
        client: httpx.AsyncClient) -> None:
    bundle = {"resourceType": "Bundle", "type": "transaction", "entry": [
        {"fullUrl": PAT, "resource": patient("T-1", managingOrganization={"reference": ORG},
                                             extension=[{
                                                 "url": "https://quill.invalid/ext/practice",
                                                 "valueReference": {"reference": ORG}}]),
         "request": {"method": "POST", "url": "Patient"}},
        {"fullUrl": ORG, "resource": {"resourceType": "Organization", "name": "Surgery"},
         "request": {"method": "POST", "url": "Organization"}},
        {"resource": {"resourceType": "Communication", "status": "completed",
                      "subject": {"reference": PAT}, "sender": {"reference": ORG}},
         "request": {"method": "POST", "url": "Communication"}},
    ]}
    answer = fhir_json(await client.post("/fhir", headers=SVC, json=bundle), 200, "Bundle")
    assert answer["type"] == "transaction-response"
    entries = answer["entry"]
    assert [e["response"]["status"] for e in entries] == ["201 Created"] * 3
    pat_id, org_id, comm_id = (e["resource"]["id"] for e in entries)
    stored = fhir_json(await client.get(f"/fhir/Patient/{pat_id}", headers=SVC), 200,
                       "Patient")
    assert stored["managingOrganization"] == {"reference": f"Organization/{org_id}"}
    assert stored["extension"][0]["valueReference"] == {"reference": f"Organization/{org_id}"}
    message = fhir_json(await client.get(f"/fhir/Communication/{comm_id}", headers=SVC), 200,
                        "Communication")
    assert message["subject"] == {"reference": f"Patient/{pat_id}"}
    assert message["sender"] == {"reference": f"Organization/{org_id}"}


async def test_transaction_conditional_create_points_later_entries_at_the_match(
        client: httpx.AsyncClient) -> None:
    existing = fhir_json(await client.post("/fhir/Patient", headers=SVC,
                                           json=patient("T-2")), 201, "Patient")
    bundle = {"resourceType": "Bundle", "type": "transaction", "entry": [
        {"fullUrl": PAT, "resource": patient("T-2"),
         "request": {"method": "POST", "url": "Patient", "ifNoneExist": f"identifier={MRN}|T-2"}},
        {"resource": {"resourceType": "Communication", "status": "completed",
                      "subject": {"reference": PAT}},
         "request": {"method": "POST", "url": "Communication"}},
    ]}
    answer = fhir_json(await client.post("/fhir", headers=SVC, json=bundle), 200, "Bundle")
    matched, message = answer["entry"]
    assert matched["response"]["status"] == "200 OK"
    assert matched["resource"] == existing
    assert message["resource"]["subject"] == {"reference": f"Patient/{existing['id']}"}
    assert await ids(client, "T-2") == [existing["id"]]
    unknown = {"resourceType": "Bundle", "type": "transaction", "entry": [bundle["entry"][1]]}
    outcome(await client.post("/fhir", headers=SVC, json=unknown), 400)


async def test_if_none_exist_creates_once_then_answers_the_match(
        client: httpx.AsyncClient) -> None:
    header = {**SVC, "If-None-Exist": f"identifier={MRN}|C-1"}
    first = await client.post("/fhir/Patient", headers=header, json=patient("C-1"))
    made = fhir_json(first, 201, "Patient")
    again = await client.post("/fhir/Patient", headers=header,
                              json=patient("C-1", gender="male"))
    assert fhir_json(again, 200, "Patient") == made
    assert again.headers["etag"] == 'W/"1"'
    history = fhir_json(await client.get(f"/fhir/Patient/{made['id']}/_history",
                                         headers=SVC), 200, "Bundle")
    assert history["total"] == 1
    # fhirpy's get_or_create sends the criteria as the POST url's query instead.
    by_url = await client.post("/fhir/Patient", params={"identifier": f"{MRN}|C-1"},
                               headers=SVC, json=patient("C-1"))
    assert fhir_json(by_url, 200, "Patient")["id"] == made["id"]
    assert await ids(client, "C-1") == [made["id"]]


async def test_if_none_exist_with_several_matches_is_412(client: httpx.AsyncClient) -> None:
    for _ in range(2):
        fhir_json(await client.post("/fhir/Patient", headers=SVC, json=patient("C-2")), 201,
                  "Patient")
    header = {**SVC, "If-None-Exist": f"identifier={MRN}|C-2"}
    failed = outcome(await client.post("/fhir/Patient", headers=header, json=patient("C-2")),
                     412)
    assert "more than one" in failed["issue"][0]["diagnostics"]
    assert len(await ids(client, "C-2")) == 2
    for bad in ("colour=red", "_count=1", ""):
        outcome(await client.post("/fhir/Patient", json=patient("C-3"),
                                  headers={**SVC, "If-None-Exist": bad}), 400)
    both = await client.post("/fhir/Patient", params={"identifier": f"{MRN}|C-3"},
                             headers={**SVC, "If-None-Exist": f"identifier={MRN}|C-3"},
                             json=patient("C-3"))
    outcome(both, 400)
    assert await ids(client, "C-3") == []


async def test_conditional_update_by_search(client: httpx.AsyncClient) -> None:
    url = f"/fhir/Patient?identifier={MRN}|U-1"
    created = await client.put(url, headers=SVC, json=patient("U-1"))
    made = fhir_json(created, 201, "Patient")
    assert created.headers["location"].endswith(f"/fhir/Patient/{made['id']}/_history/1")
    updated = await client.put(url, headers=SVC, json=patient("U-1", gender="female"))
    changed = fhir_json(updated, 200, "Patient")
    assert (changed["id"], changed["meta"]["versionId"]) == (made["id"], "2")
    assert changed["gender"] == "female"
    with_id = await client.put(url, headers=SVC,
                               json=patient("U-1", id=made["id"], active=True))
    assert fhir_json(with_id, 200, "Patient")["meta"]["versionId"] == "3"
    outcome(await client.put(url, headers=SVC, json=patient("U-1", id="someone-else")), 400)
    fhir_json(await client.put("/fhir/Patient/taken", headers=SVC,
                               json=patient("U-9", id="taken")), 201, "Patient")
    clash = await client.put(f"/fhir/Patient?identifier={MRN}|U-2", headers=SVC,
                             json=patient("U-2", id="taken"))
    outcome(clash, 409)
    fhir_json(await client.post("/fhir/Patient", headers=SVC, json=patient("U-1")), 201,
              "Patient")
    outcome(await client.put(url, headers=SVC, json=patient("U-1")), 412)
    outcome(await client.put("/fhir/Patient", headers=SVC, json=patient("U-3")), 400)
    assert await ids(client, "U-3") == []


async def test_conditional_delete_by_search(client: httpx.AsyncClient) -> None:
    made = fhir_json(await client.post("/fhir/Patient", headers=SVC, json=patient("X-1")),
                     201, "Patient")
    nothing = await client.delete(f"/fhir/Patient?identifier={MRN}|X-0", headers=SVC)
    assert nothing.status_code == 204
    gone = await client.delete(f"/fhir/Patient?identifier={MRN}|X-1", headers=SVC)
    assert gone.status_code == 204
    assert await ids(client, "X-1") == []
    history = fhir_json(await client.get(f"/fhir/Patient/{made['id']}/_history",
                                         headers=SVC), 200, "Bundle")
    assert history["entry"][0]["request"]["method"] == "DELETE"
    for _ in range(2):
        fhir_json(await client.post("/fhir/Patient", headers=SVC, json=patient("X-2")), 201,
                  "Patient")
    outcome(await client.delete(f"/fhir/Patient?identifier={MRN}|X-2", headers=SVC), 412)
    assert len(await ids(client, "X-2")) == 2
    outcome(await client.delete("/fhir/Patient?_count=5", headers=SVC), 400)


async def test_capability_statement_announces_conditional_interactions(
        client: httpx.AsyncClient) -> None:
    statement = fhir_json(await client.get("/fhir/metadata", headers=SVC), 200,
                          "CapabilityStatement")
    resources = statement["rest"][0]["resource"]
    assert resources
    for resource in resources:
        assert resource["conditionalCreate"] is True
        assert resource["conditionalUpdate"] is True
        assert resource["conditionalDelete"] == "single"
