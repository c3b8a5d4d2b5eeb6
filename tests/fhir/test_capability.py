"""The CapabilityStatement is a promise: each interaction, search parameter, include,
format and conditional flag it lists is exercised here against the facade, and each R4
interaction it leaves out must be refused (405). The checks iterate over what the statement
says, so a capability added to it without a check here fails this test."""

from __future__ import annotations

from collections.abc import Awaitable, Callable
from dataclasses import dataclass, field
from typing import Any

import httpx

from tests.fhir.conftest import SERVICE_TOKEN

SVC = {"Authorization": f"Bearer {SERVICE_TOKEN}"}
TYPE_INTERACTIONS = {"read", "vread", "update", "patch", "delete", "history-instance",
                     "history-type", "create", "search-type"}
SYSTEM_INTERACTIONS = {"transaction", "batch", "search-system", "history-system"}


@dataclass
class World:
    """Resources every search check runs against: each parameter has a match and a miss."""

    client: httpx.AsyncClient
    ids: dict[str, str] = field(default_factory=dict)
    types: dict[str, str] = field(default_factory=dict)

    async def create(self, name: str, resource: dict[str, Any]) -> str:
        response = await self.client.post(f"/fhir/{resource['resourceType']}", headers=SVC,
                                          json=resource)
        assert response.status_code == 201, response.text
        self.ids[name] = response.json()["id"]
        self.types[name] = resource["resourceType"]
        return self.ids[name]

    def ref(self, kind: str, name: str) -> dict[str, str]:
        return {"reference": f"{kind}/{self.ids[name]}"}


def sample(world: World, resource_type: str) -> dict[str, Any]:
    """A new, valid resource of each type (its references resolve)."""
    subject = world.ref("Patient", "pat")
    bodies: dict[str, dict[str, Any]] = {
        "Patient": {"gender": "unknown"},
        "Practitioner": {"name": [{"family": "Sample"}]},
        "Organization": {"name": "Sample org"},
        "Communication": {"status": "completed", "subject": subject},
        "MedicationRequest": {"status": "active", "intent": "order", "subject": subject,
                              "medicationCodeableConcept": {"text": "Sample"}},
    }
    return {**bodies[resource_type], "resourceType": resource_type}


async def build_world(client: httpx.AsyncClient) -> World:
    w = World(client)
    await w.create("doc", {"resourceType": "Practitioner", "name": [{"family": "Docfam",
                   "given": ["Dora"]}], "identifier": [{"system": "urn:d", "value": "D1"}]})
    await w.create("org", {"resourceType": "Organization", "name": "Orgname",
                           "identifier": [{"system": "urn:o", "value": "O1"}]})
    await w.create("pat", {"resourceType": "Patient", "name": [{"family": "Patfam",
                   "given": ["Pia"]}], "gender": "female", "birthDate": "1970-05-06",
                   "active": True, "identifier": [{"system": "urn:p", "value": "P1"}]})
    await w.create("pat2", {"resourceType": "Patient", "gender": "male", "active": False})
    await w.create("root", {"resourceType": "Communication", "status": "completed",
                            "identifier": [{"system": "urn:c", "value": "C1"}],
                            "subject": w.ref("Patient", "pat"),
                            "sender": w.ref("Practitioner", "doc"),
                            "recipient": [w.ref("Patient", "pat")],
                            "sent": "2020-01-01T10:00:00Z"})
    await w.create("reply", {"resourceType": "Communication", "status": "in-progress",
                             "subject": w.ref("Patient", "pat2"),
                             "partOf": [w.ref("Communication", "root")]})
    await w.create("mr", {"resourceType": "MedicationRequest", "status": "active",
                          "intent": "order", "medicationCodeableConcept": {"text": "A"},
                          "identifier": [{"system": "urn:m", "value": "M1"}],
                          "subject": w.ref("Patient", "pat"),
                          "requester": w.ref("Practitioner", "doc")})
    await w.create("mr2", {"resourceType": "MedicationRequest", "status": "stopped",
                           "intent": "order", "medicationCodeableConcept": {"text": "B"},
                           "subject": w.ref("Patient", "pat2")})
    return w


# (type, parameter) -> (value, the names of the world's resources it must find exactly).
def probes(w: World) -> dict[tuple[str, str], tuple[str, set[str]]]:
    ids = w.ids
    return {
        ("Patient", "identifier"): ("urn:p|P1", {"pat"}),
        ("Patient", "name"): ("pia", {"pat"}),
        ("Patient", "family"): ("patf", {"pat"}),
        ("Patient", "given"): ("pi", {"pat"}),
        ("Patient", "birthdate"): ("1970-05", {"pat"}),
        ("Patient", "gender"): ("male", {"pat2"}),
        ("Patient", "active"): ("false", {"pat2"}),
        ("Practitioner", "identifier"): ("D1", {"doc"}),
        ("Practitioner", "name"): ("dora", {"doc"}),
        ("Practitioner", "family"): ("docf", {"doc"}),
        ("Practitioner", "given"): ("dor", {"doc"}),
        ("Organization", "identifier"): ("urn:o|O1", {"org"}),
        ("Organization", "name"): ("orgn", {"org"}),
        ("Communication", "identifier"): ("urn:c|C1", {"root"}),
        ("Communication", "subject"): (f"Patient/{ids['pat']}", {"root"}),
        ("Communication", "patient"): (ids["pat2"], {"reply"}),
        ("Communication", "part-of"): (f"Communication/{ids['root']}", {"reply"}),
        ("Communication", "sender"): (f"Practitioner/{ids['doc']}", {"root"}),
        ("Communication", "recipient"): (f"Patient/{ids['pat']}", {"root"}),
        ("Communication", "sent"): ("2020-01-01", {"root"}),
        ("Communication", "status"): ("in-progress", {"reply"}),
        ("MedicationRequest", "identifier"): ("M1", {"mr"}),
        ("MedicationRequest", "subject"): (ids["pat2"], {"mr2"}),
        ("MedicationRequest", "patient"): (f"Patient/{ids['pat']}", {"mr"}),
        ("MedicationRequest", "requester"): (f"Practitioner/{ids['doc']}", {"mr"}),
        ("MedicationRequest", "status"): ("stopped", {"mr2"}),
    }


async def search_ids(client: httpx.AsyncClient, resource_type: str,
                     params: dict[str, str]) -> set[str]:
    response = await client.get(f"/fhir/{resource_type}", params=params, headers=SVC)
    assert response.status_code == 200, (resource_type, params, response.text)
    return {e["resource"]["id"] for e in response.json().get("entry", [])
            if e["search"]["mode"] == "match"}


async def check_search_param(w: World, resource_type: str, name: str) -> None:
    of_type = {n for n, kind in w.types.items() if kind == resource_type}
    if name == "_id":
        value, expected = w.ids[sorted(of_type)[0]], {sorted(of_type)[0]}
    elif name == "_lastUpdated":
        value, expected = "ge2000-01-01", of_type
    else:
        table = probes(w)
        assert (resource_type, name) in table, f"no behaviour check for {resource_type}:{name}"
        value, expected = table[(resource_type, name)]
    found = await search_ids(w.client, resource_type, {name: value})
    assert found == {w.ids[n] for n in expected}, (resource_type, name)


Check = Callable[[World, str], Awaitable[None]]


async def _read(w: World, t: str) -> None:
    rid = await w.create(f"new-{t}", sample(w, t))
    assert (await w.client.get(f"/fhir/{t}/{rid}", headers=SVC)).json()["id"] == rid


async def _vread(w: World, t: str) -> None:
    rid = await w.create(f"new-{t}", sample(w, t))
    response = await w.client.get(f"/fhir/{t}/{rid}/_history/1", headers=SVC)
    assert response.json()["meta"]["versionId"] == "1"


async def _update(w: World, t: str) -> None:
    rid = await w.create(f"new-{t}", sample(w, t))
    response = await w.client.put(f"/fhir/{t}/{rid}", headers={**SVC, "If-Match": 'W/"1"'},
                                  json={**sample(w, t), "id": rid})
    assert response.status_code == 200
    stale = await w.client.put(f"/fhir/{t}/{rid}", headers={**SVC, "If-Match": 'W/"1"'},
                               json={**sample(w, t), "id": rid})
    assert stale.status_code == 412  # versioning: versioned-update


async def _patch(w: World, t: str) -> None:
    rid = await w.create(f"new-{t}", sample(w, t))
    ops = [{"op": "add", "path": "/language", "value": "en"}]
    response = await w.client.patch(
        f"/fhir/{t}/{rid}", json=ops,
        headers={**SVC, "Content-Type": "application/json-patch+json"})
    assert response.status_code == 200, response.text
    assert response.json()["language"] == "en"


async def _delete(w: World, t: str) -> None:
    rid = await w.create(f"new-{t}", sample(w, t))
    assert (await w.client.delete(f"/fhir/{t}/{rid}", headers=SVC)).status_code == 204
    assert (await w.client.get(f"/fhir/{t}/{rid}", headers=SVC)).status_code == 410


async def _history_instance(w: World, t: str) -> None:
    rid = await w.create(f"new-{t}", sample(w, t))
    bundle = (await w.client.get(f"/fhir/{t}/{rid}/_history", headers=SVC)).json()
    assert bundle["type"] == "history"
    assert bundle["total"] == 1


async def _create(w: World, t: str) -> None:
    response = await w.client.post(f"/fhir/{t}", headers=SVC, json=sample(w, t))
    assert response.status_code == 201
    assert response.headers["location"]


async def _search_type(w: World, t: str) -> None:
    bundle = (await w.client.get(f"/fhir/{t}", headers=SVC)).json()
    assert bundle["type"] == "searchset"
    assert bundle["total"] >= 1


CHECKS: dict[str, Check] = {
    "read": _read, "vread": _vread, "update": _update, "patch": _patch, "delete": _delete,
    "history-instance": _history_instance, "create": _create, "search-type": _search_type,
}
# How to ask for an interaction the statement leaves out (it must then be refused).
ASK: dict[str, tuple[str, str]] = {
    "read": ("GET", "/fhir/{t}/x"), "vread": ("GET", "/fhir/{t}/x/_history/1"),
    "update": ("PUT", "/fhir/{t}/x"), "patch": ("PATCH", "/fhir/{t}/x"),
    "delete": ("DELETE", "/fhir/{t}/x"), "history-instance": ("GET", "/fhir/{t}/x/_history"),
    "history-type": ("GET", "/fhir/{t}/_history"), "create": ("POST", "/fhir/{t}"),
    "search-type": ("GET", "/fhir/{t}"), "batch": ("POST", "/fhir"),
    "search-system": ("GET", "/fhir"), "history-system": ("GET", "/fhir/_history"),
    "transaction": ("POST", "/fhir"),
}


async def statement(client: httpx.AsyncClient) -> dict[str, Any]:
    response = await client.get("/fhir/metadata")
    assert response.status_code == 200
    body: dict[str, Any] = response.json()
    return body


async def check_conditional_create(w: World, t: str, supported: bool) -> None:
    body = {**sample(w, t), "identifier": [{"system": "urn:cond", "value": f"cc-{t}"}]}
    headers = {**SVC, "If-None-Exist": f"identifier=urn:cond|cc-{t}"}
    first = await w.client.post(f"/fhir/{t}", headers=headers, json=body)
    second = await w.client.post(f"/fhir/{t}", headers=headers, json=body)
    assert first.status_code == 201
    total = len(await search_ids(w.client, t, {"identifier": f"urn:cond|cc-{t}"}))
    if supported:
        assert second.status_code == 200
        assert second.json()["id"] == first.json()["id"]
        assert total == 1
    else:  # not claimed: the header is not honoured, so nothing promises a single copy
        assert second.status_code == 201
        assert total == 2


async def check_conditional_update(w: World, t: str, supported: bool) -> None:
    url = f"/fhir/{t}?identifier=urn:cond|cu-{t}"
    body = {**sample(w, t), "identifier": [{"system": "urn:cond", "value": f"cu-{t}"}]}
    first = await w.client.put(url, headers=SVC, json=body)
    if not supported:
        assert first.status_code == 405
        return
    assert first.status_code == 201
    again = await w.client.put(url, headers=SVC, json=body)
    assert again.status_code == 200
    assert again.json()["id"] == first.json()["id"]


async def check_conditional_delete(w: World, t: str, mode: str) -> None:
    body = {**sample(w, t), "identifier": [{"system": "urn:cond", "value": f"cd-{t}"}]}
    await w.create(f"cd-{t}", body)
    response = await w.client.delete(f"/fhir/{t}?identifier=urn:cond|cd-{t}", headers=SVC)
    if mode == "not-supported":
        assert response.status_code == 405
        return
    assert response.status_code in (200, 204)
    assert await search_ids(w.client, t, {"identifier": f"urn:cond|cd-{t}"}) == set()


async def check_include(w: World, resource_type: str, include: str) -> None:
    """Searched one match at a time (a target that is a match itself is not repeated as
    an include), some match of the world must bring its target along."""
    included: list[str] = []
    for name in sorted(n for n, kind in w.types.items() if kind == resource_type):
        response = await w.client.get(f"/fhir/{resource_type}", headers=SVC,
                                      params={"_id": w.ids[name], "_include": include})
        assert response.status_code == 200, (include, response.text)
        included += [e["resource"]["id"] for e in response.json()["entry"]
                     if e["search"]["mode"] == "include"]
    assert included, f"{include} included nothing"


async def test_every_listed_interaction_works_and_others_are_refused(
        client: httpx.AsyncClient) -> None:
    rest = (await statement(client))["rest"][0]
    w = await build_world(client)
    for resource in rest["resource"]:
        t = resource["type"]
        listed = {i["code"] for i in resource["interaction"]}
        for code in sorted(listed):
            assert code in CHECKS, f"no behaviour check for interaction {code}"
            await CHECKS[code](w, t)
        for code in sorted(TYPE_INTERACTIONS - listed):
            method, path = ASK[code]
            response = await client.request(method, path.format(t=t), headers=SVC)
            assert response.status_code == 405, (t, code, response.status_code)
        assert resource["updateCreate"] is True
        created = await client.put(f"/fhir/{t}/fresh-{t.lower()}", headers=SVC,
                                   json={**sample(w, t), "id": f"fresh-{t.lower()}"})
        assert created.status_code == 201
        assert resource["readHistory"] is True  # vread of an old version, checked above
    system = {i["code"] for i in rest["interaction"]}
    assert system == {"transaction"}
    bundle = {"resourceType": "Bundle", "type": "transaction", "entry": [
        {"resource": {"resourceType": "Patient"}, "request": {"method": "POST",
                                                              "url": "Patient"}}]}
    assert (await client.post("/fhir", headers=SVC, json=bundle)).status_code == 200
    for code in sorted(SYSTEM_INTERACTIONS - system):
        method, path = ASK[code]
        response = await client.request(method, path, headers=SVC,
                                        json={"resourceType": "Bundle", "type": "batch"})
        assert response.status_code in (400, 405), (code, response.status_code)


async def test_every_listed_search_parameter_and_include_works(
        client: httpx.AsyncClient) -> None:
    rest = (await statement(client))["rest"][0]
    w = await build_world(client)
    for resource in rest["resource"]:
        t = resource["type"]
        for param in resource["searchParam"]:
            await check_search_param(w, t, param["name"])
        for include in resource.get("searchInclude", []):
            await check_include(w, t, include)
        refused = await client.get(f"/fhir/{t}", params={"zz-not-listed": "x"}, headers=SVC)
        assert refused.status_code == 400


async def test_every_conditional_flag_and_format_holds(client: httpx.AsyncClient) -> None:
    body = await statement(client)
    w = await build_world(client)
    for resource in body["rest"][0]["resource"]:
        t = resource["type"]
        await check_conditional_create(w, t, bool(resource.get("conditionalCreate")))
        await check_conditional_update(w, t, bool(resource.get("conditionalUpdate")))
        await check_conditional_delete(w, t, resource.get("conditionalDelete",
                                                          "not-supported"))
    for fmt in body["format"]:
        response = await client.get("/fhir/Patient", params={"_format": fmt}, headers=SVC)
        assert response.status_code == 200, fmt
    for fmt in body.get("patchFormat", []):
        rid = w.ids["pat"]
        response = await client.patch(f"/fhir/Patient/{rid}", json=[], headers={
            **SVC, "Content-Type": fmt})
        assert response.status_code == 200, fmt
