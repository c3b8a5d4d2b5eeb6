"""The /openehr/v1 facade as the openEHR REST spec describes it: EHRs, deletion, versions,
errors, optional AQL fetch, and compositions checked against their template."""

from __future__ import annotations

import copy
from typing import Any

import httpx
from fastapi import FastAPI

from quill.clock import ManualClock
from quill.letters.composition import Letter, build_letter
from quill.openehr.http import FIRST_PAGE_TIME, FIRST_PAGE_UID, LIST_QUERY, ehr_status
from quill.openehr.template_upload import letter_template
from tests.helpers import logged_in

BASE = "/openehr/v1"


async def admin_headers(app: FastAPI, name: str) -> dict[str, str]:
    admin = await logged_in(app, name, level="admin", profession="administrator")
    return admin.headers


def a_letter(clock: ManualClock, title: str = "Referral") -> dict[str, Any]:
    return build_letter(Letter(title=title, body="Body", author_name="Dr A",
                               author_email="a@example.org", created_at=clock.now()))


def assert_openehr_error(response: httpx.Response, status: int, code: str) -> dict[str, Any]:
    assert response.status_code == status, response.text
    body: dict[str, Any] = response.json()
    assert body["code"] == code
    assert isinstance(body["message"], str)
    assert body["message"]
    assert "detail" not in body
    return body


async def new_ehr(client: httpx.AsyncClient, headers: dict[str, str]) -> str:
    created = await client.post(f"{BASE}/ehr", headers=headers)
    assert created.status_code == 201, created.text
    return created.headers["etag"].strip('"')


async def test_empty_post_creates_an_ehr_that_reads_by_id(
    app: FastAPI, client: httpx.AsyncClient
) -> None:
    headers = await admin_headers(app, "ehr-admin")
    created = await client.post(f"{BASE}/ehr", headers={**headers,
                                                       "Prefer": "return=representation"})
    assert created.status_code == 201, created.text
    ehr_id = created.json()["ehr_id"]["value"]
    assert created.headers["location"] == f"{BASE}/ehr/{ehr_id}"
    second = await new_ehr(client, headers)
    assert second != ehr_id
    read = await client.get(f"{BASE}/ehr/{ehr_id}", headers=headers)
    assert read.status_code == 200
    assert read.json()["ehr_id"]["value"] == ehr_id
    assert read.headers["etag"] == f'"{ehr_id}"'
    # A PARTY_SELF without external_ref is the spec's default subject: no subject either.
    status = ehr_status("x", "ns")
    del status["subject"]["external_ref"]
    assert (await client.post(f"{BASE}/ehr", json=status, headers=headers)).status_code == 201
    missing = await client.get(f"{BASE}/ehr/00000000-0000-0000-0000-000000000000",
                               headers=headers)
    assert_openehr_error(missing, 404, "NOT_FOUND")


async def test_delete_is_a_new_version_and_the_history_shows_it(
    app: FastAPI, client: httpx.AsyncClient, clock: ManualClock
) -> None:
    headers = await admin_headers(app, "delete-admin")
    ehr_id = await new_ehr(client, headers)
    created = await client.post(f"{BASE}/ehr/{ehr_id}/composition", json=a_letter(clock),
                                headers=headers)
    v1 = created.headers["etag"].strip('"')
    object_id = v1.split("::")[0]
    updated = await client.put(f"{BASE}/ehr/{ehr_id}/composition/{object_id}",
                               json=a_letter(clock, "Second"),
                               headers={**headers, "If-Match": f'"{v1}"'})
    v2 = updated.headers["etag"].strip('"')
    stale = await client.delete(f"{BASE}/ehr/{ehr_id}/composition/{v1}", headers=headers)
    assert_openehr_error(stale, 409, "CONFLICT")
    assert stale.headers["etag"] == f'"{v2}"'
    deleted = await client.delete(f"{BASE}/ehr/{ehr_id}/composition/{v2}", headers=headers)
    assert deleted.status_code == 204
    v3 = deleted.headers["etag"].strip('"')
    assert v3 == f"{object_id}::quill.embedded::3"
    assert (await client.get(f"{BASE}/ehr/{ehr_id}/composition/{object_id}",
                             headers=headers)).status_code == 204
    old = await client.get(f"{BASE}/ehr/{ehr_id}/composition/{v1}", headers=headers)
    assert old.status_code == 200
    assert old.json()["name"]["value"] == "Referral"
    again = await client.delete(f"{BASE}/ehr/{ehr_id}/composition/{v3}", headers=headers)
    assert_openehr_error(again, 400, "BAD_REQUEST")
    refused = await client.put(f"{BASE}/ehr/{ehr_id}/composition/{object_id}",
                               json=a_letter(clock), headers={**headers, "If-Match": f'"{v3}"'})
    assert_openehr_error(refused, 404, "NOT_FOUND")
    versioned = f"{BASE}/ehr/{ehr_id}/versioned_composition/{object_id}"
    history = await client.get(f"{versioned}/revision_history", headers=headers)
    assert history.status_code == 200
    items = history.json()["items"]
    assert [item["version_id"]["value"] for item in items] == [v1, v2, v3]
    assert [item["audits"][0]["change_type"]["value"] for item in items] == [
        "creation", "modification", "deleted"]
    first = await client.get(f"{versioned}/version/{v1}", headers=headers)
    assert first.status_code == 200
    assert first.json()["data"]["name"]["value"] == "Referral"
    assert first.json()["lifecycle_state"]["value"] == "complete"
    latest = await client.get(f"{versioned}/version", headers=headers)
    assert latest.json()["uid"]["value"] == v3
    assert latest.json()["lifecycle_state"]["value"] == "deleted"
    assert latest.json()["preceding_version_uid"]["value"] == v2
    container = await client.get(versioned, headers=headers)
    assert container.json()["owner_id"]["id"]["value"] == ehr_id
    listed = await client.post(f"{BASE}/query/aql", headers=headers, json={
        "q": LIST_QUERY, "query_parameters": {
            "ehr_id": ehr_id, "archetype_node_id": "openEHR-EHR-COMPOSITION.report.v1",
            "before_time": FIRST_PAGE_TIME, "before_uid": FIRST_PAGE_UID}})
    assert listed.json()["rows"] == []


async def test_aql_fetch_is_optional(
    app: FastAPI, client: httpx.AsyncClient, clock: ManualClock
) -> None:
    headers = await admin_headers(app, "fetch-admin")
    ehr_id = await new_ehr(client, headers)
    for title in ("One", "Two"):
        await client.post(f"{BASE}/ehr/{ehr_id}/composition", json=a_letter(clock, title),
                          headers=headers)
    body = {"q": LIST_QUERY, "query_parameters": {
        "ehr_id": ehr_id, "archetype_node_id": "openEHR-EHR-COMPOSITION.report.v1",
        "before_time": FIRST_PAGE_TIME, "before_uid": FIRST_PAGE_UID}}
    response = await client.post(f"{BASE}/query/aql", json=body, headers=headers)
    assert response.status_code == 200, response.text
    assert sorted(row[1] for row in response.json()["rows"]) == ["One", "Two"]
    zero = await client.post(f"{BASE}/query/aql", json={**body, "fetch": 0}, headers=headers)
    assert_openehr_error(zero, 400, "BAD_REQUEST")


async def test_errors_are_in_openehr_style(app: FastAPI, client: httpx.AsyncClient) -> None:
    anonymous = await client.get(f"{BASE}/ehr/x")
    assert_openehr_error(anonymous, 401, "UNAUTHORIZED")
    assert anonymous.headers["www-authenticate"].startswith("Bearer")
    headers = await admin_headers(app, "errors-admin")
    wrong_method = await client.patch(f"{BASE}/ehr", headers=headers)
    assert_openehr_error(wrong_method, 405, "METHOD_NOT_ALLOWED")
    assert wrong_method.headers["allow"] == "GET, POST"
    put_ehr = await client.put(f"{BASE}/ehr/abc", headers=headers)
    assert_openehr_error(put_ehr, 405, "METHOD_NOT_ALLOWED")
    directory = await client.get(f"{BASE}/ehr/abc/directory", headers=headers)
    assert_openehr_error(directory, 501, "NOT_IMPLEMENTED")
    not_json = await client.post(f"{BASE}/ehr", content=b"{", headers=headers)
    assert_openehr_error(not_json, 400, "BAD_REQUEST")
    too_long = await client.get(f"{BASE}/ehr", params={"subject_id": "x" * 200,
                                                        "subject_namespace": "ns"},
                                headers=headers)
    body = assert_openehr_error(too_long, 400, "BAD_REQUEST")
    assert body["validationErrors"]
    unknown = await client.get(f"{BASE}/ehr", params={"subject_id": "nobody",
                                                       "subject_namespace": "ns"},
                               headers=headers)
    assert_openehr_error(unknown, 404, "NOT_FOUND")


async def test_compositions_are_checked_against_their_template(
    app: FastAPI, client: httpx.AsyncClient, clock: ManualClock
) -> None:
    headers = await admin_headers(app, "template-admin")
    ehr_id = await new_ehr(client, headers)
    url = f"{BASE}/ehr/{ehr_id}/composition"
    good = a_letter(clock)
    assert (await client.post(url, json=good, headers=headers)).status_code == 201
    no_body = copy.deepcopy(good)
    no_body["content"] = []
    refused = assert_openehr_error(await client.post(url, json=no_body, headers=headers),
                                   422, "UNPROCESSABLE_ENTITY")
    assert "clinical_synopsis" in refused["message"]
    extra = copy.deepcopy(good)
    extra["content"][0]["data"]["items"].append({
        "_type": "ELEMENT", "name": {"_type": "DV_TEXT", "value": "Stray"},
        "archetype_node_id": "at0099", "value": {"_type": "DV_TEXT", "value": "x"}})
    assert_openehr_error(await client.post(url, json=extra, headers=headers),
                         422, "UNPROCESSABLE_ENTITY")
    no_template = copy.deepcopy(good)
    no_template["archetype_details"]["template_id"]["value"] = "never_uploaded.v1"
    assert_openehr_error(await client.post(url, json=no_template, headers=headers),
                         422, "UNPROCESSABLE_ENTITY")
    # A composition of another (uploaded) template is refused for an unknown attribute.
    note = letter_template().replace("quill_letter.v1", "quill_note.v1").replace(
        "openEHR-EHR-COMPOSITION.report.v1", "openEHR-EHR-COMPOSITION.encounter.v1")
    uploaded = await client.post(f"{BASE}/definition/template/adl1.4", content=note,
                                 headers={**headers, "Content-Type": "application/xml"})
    assert uploaded.status_code == 201
    other = copy.deepcopy(good)
    other["archetype_node_id"] = "openEHR-EHR-COMPOSITION.encounter.v1"
    other["archetype_details"]["archetype_id"]["value"] = other["archetype_node_id"]
    other["archetype_details"]["template_id"]["value"] = "quill_note.v1"
    assert (await client.post(url, json=other, headers=headers)).status_code == 201
    other["context"]["mood"] = "cheerful"
    body = assert_openehr_error(await client.post(url, json=other, headers=headers),
                                400, "BAD_REQUEST")
    assert body["validationErrors"] == ["/context/mood: EVENT_CONTEXT has no attribute 'mood'"]


async def test_start_time_without_a_time_zone_is_a_clear_400(
    app: FastAPI, client: httpx.AsyncClient, clock: ManualClock
) -> None:
    headers = await admin_headers(app, "tz-admin")
    ehr_id = await new_ehr(client, headers)
    naive = a_letter(clock)
    naive["context"]["start_time"]["value"] = "2026-03-01T09:30:00"
    response = await client.post(f"{BASE}/ehr/{ehr_id}/composition", json=naive,
                                 headers=headers)
    body = assert_openehr_error(response, 400, "BAD_REQUEST")
    assert "time zone" in body["message"]
    assert "start_time" in body["message"]
