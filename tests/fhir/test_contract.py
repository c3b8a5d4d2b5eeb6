"""The one contract every FhirStore keeps: run against the embedded store and against the
HTTP adapter talking to the facade over loopback, on SQLite and PostgreSQL."""

from __future__ import annotations

from typing import Any

import pytest

from quill.clock import ManualClock
from quill.errors import Invalid, NotFound, PreconditionFailed, Unprocessable
from quill.fhir import Create, Delete, FhirStore, Put, iter_search, reference, reference_to

NHS = "https://fhir.nhs.uk/Id/nhs-number"


def patient(family: str, given: str = "Ann", **fields: Any) -> dict[str, Any]:
    return {"resourceType": "Patient", "name": [{"family": family, "given": [given]}],
            **fields}


async def test_create_read_and_meta(store: FhirStore) -> None:
    created = await store.create(patient("Smith", birthDate="1980-02-03"))
    assert created["id"]
    assert created["meta"]["versionId"] == "1"
    assert created["meta"]["lastUpdated"].startswith("2026-01-01T09:00:00")
    read = await store.read("Patient", created["id"])
    assert read == created


async def test_update_versions_and_preconditions(store: FhirStore, clock: ManualClock) -> None:
    created = await store.create(patient("Smith"))
    clock.advance(minutes=1)
    changed = {**created, "gender": "female"}
    updated = await store.update(changed, expected_version="1")
    assert updated["meta"]["versionId"] == "2"
    assert updated["meta"]["lastUpdated"].startswith("2026-01-01T09:01:00")
    with pytest.raises(PreconditionFailed):
        await store.update(changed, expected_version="1")
    old = await store.vread("Patient", created["id"], "1")
    assert "gender" not in old
    assert (await store.vread("Patient", created["id"], "2"))["gender"] == "female"
    with pytest.raises(NotFound):
        await store.vread("Patient", created["id"], "9")


async def test_put_with_client_id_creates_then_updates(store: FhirStore) -> None:
    first = await store.update(patient("Jones", id="client-id-1"))
    assert first["id"] == "client-id-1"
    assert first["meta"]["versionId"] == "1"
    second = await store.update(patient("Jones", id="client-id-1", active=True))
    assert second["meta"]["versionId"] == "2"
    with pytest.raises(PreconditionFailed):
        await store.update(patient("X", id="never-stored"), expected_version="1")


async def test_delete_and_history(store: FhirStore, clock: ManualClock) -> None:
    created = await store.create(patient("Brown"))
    clock.advance(seconds=5)
    await store.update({**created, "active": False})
    clock.advance(seconds=5)
    await store.delete("Patient", created["id"])
    await store.delete("Patient", created["id"])  # idempotent
    with pytest.raises(NotFound):
        await store.read("Patient", created["id"])
    history = await store.history("Patient", created["id"])
    assert [h.version_id for h in history] == ["3", "2", "1"]
    assert [h.method for h in history] == ["DELETE", "PUT", "POST"]
    assert history[0].resource is None
    assert history[1].resource is not None
    assert history[1].resource["active"] is False
    assert (await store.search("Patient", {"family": "brown"})).total == 0
    with pytest.raises(NotFound):
        await store.history("Patient", "no-such-patient")


async def test_rejections(store: FhirStore) -> None:
    with pytest.raises(Unprocessable):
        await store.create(patient("Smith", birthDate="not-a-date"))
    with pytest.raises(Unprocessable):
        await store.create({"resourceType": "Patient", "unknownField": 1})
    with pytest.raises(NotFound):
        await store.create({"resourceType": "Spaceship"})
    with pytest.raises(NotFound):
        await store.read("Spaceship", "1")
    with pytest.raises(NotFound):
        await store.read("Patient", "missing")
    with pytest.raises(Invalid):
        await store.search("Patient", {"colour": "blue"})
    with pytest.raises(Invalid):
        await store.search("Patient", {"birthdate": "ne2000"})
    with pytest.raises(Invalid):
        await store.search("Patient", {"birthdate": "yesterday"})
    with pytest.raises(Invalid):
        await store.search("Patient", {"_sort": "family"})


async def test_patient_search_parameters(store: FhirStore) -> None:
    ann = await store.create(patient("Smith", "Ann", gender="female", birthDate="1980-02-03",
                                     active=True,
                                     identifier=[{"system": NHS, "value": "9434765919"}]))
    bob = await store.create(patient("Smíthers", "Bob", gender="male", birthDate="1990",
                                     active=False,
                                     identifier=[{"system": "urn:mrn", "value": "M1"}]))

    async def ids(**params: str) -> set[str]:
        page = await store.search("Patient", params)
        assert page.total == len(page.resources)
        return {r["id"] for r in page.resources}

    assert await ids(identifier=f"{NHS}|9434765919") == {ann["id"]}
    assert await ids(identifier="9434765919") == {ann["id"]}
    assert await ids(identifier="urn:mrn|") == {bob["id"]}
    assert await ids(identifier="urn:mrn|9434765919") == set()
    assert await ids(family="smith") == {ann["id"], bob["id"]}
    assert await ids(family="SMITHE") == {bob["id"]}
    assert await ids(name="bo") == {bob["id"]}
    assert await ids(given="ann") == {ann["id"]}
    assert await ids(gender="female") == {ann["id"]}
    assert await ids(active="false") == {bob["id"]}
    assert await ids(birthdate="1980") == {ann["id"]}
    assert await ids(birthdate="1980-02-03") == {ann["id"]}
    assert await ids(birthdate="ge1985-01-01") == {bob["id"]}
    assert await ids(birthdate="le1985") == {ann["id"]}
    assert await ids(_id=f"{ann['id']},{bob['id']}") == {ann["id"], bob["id"]}
    page = await store.search("Patient", {"birthdate": ["ge1970", "le1985"], "gender": "female"})
    assert [r["id"] for r in page.resources] == [ann["id"]]


async def test_last_updated_sort_and_paging(store: FhirStore, clock: ManualClock) -> None:
    made = []
    for n in range(5):
        made.append((await store.create(patient(f"Page{n}")))["id"])
        clock.advance(minutes=1)
    seen: list[str] = []
    page = await store.search("Patient", {"family": "page"}, count=2)
    pages = 1
    while True:
        assert page.total == 5
        seen += [r["id"] for r in page.resources]
        if page.next_cursor is None:
            break
        page = await store.search("Patient", {"family": "page"}, count=2,
                                  cursor=page.next_cursor)
        pages += 1
    assert seen == made
    assert pages == 3
    newest = await store.search("Patient", {"_sort": "-_lastUpdated", "_count": "3"})
    assert [r["id"] for r in newest.resources] == made[::-1][:3]
    since = await store.search("Patient", {"_lastUpdated": "ge2026-01-01T09:03:00Z"})
    assert {r["id"] for r in since.resources} == set(made[3:])
    walked = [r["id"] async for r in iter_search(store, "Patient", {"family": "page"},
                                                 page_size=2)]
    assert walked == made
    only_total = await store.search("Patient", {}, count=0)
    assert only_total.total == 5
    assert only_total.resources == []


async def test_communication_and_medication_request_search(store: FhirStore) -> None:
    pat = await store.create(patient("Green"))
    doc = await store.update({"resourceType": "Practitioner", "id": "doc-1",
                              "name": [{"family": "Who"}]})
    first = await store.create({
        "resourceType": "Communication", "status": "completed",
        "subject": reference_to(pat), "sender": reference_to(doc),
        "recipient": [{"reference": reference("Patient", pat["id"])}],
        "sent": "2026-01-01T09:00:00Z", "payload": [{"contentString": "hello"}]})
    reply = await store.create({
        "resourceType": "Communication", "status": "completed",
        "subject": reference_to(pat), "partOf": [reference_to(first)],
        "sender": {"reference": f"Patient/{pat['id']}"}, "recipient": [reference_to(doc)],
        "sent": "2026-01-02T10:00:00+01:00", "payload": [{"contentString": "hi"}]})

    async def ids(**params: str) -> list[str]:
        page = await store.search("Communication", params)
        return sorted(r["id"] for r in page.resources)

    assert await ids(subject=f"Patient/{pat['id']}") == sorted([first["id"], reply["id"]])
    assert await ids(subject=pat["id"]) == sorted([first["id"], reply["id"]])
    assert await ids(**{"part-of": f"Communication/{first['id']}"}) == [reply["id"]]
    assert await ids(sender="Practitioner/doc-1") == [first["id"]]
    assert await ids(recipient="Practitioner/doc-1") == [reply["id"]]
    assert await ids(sent="ge2026-01-02") == [reply["id"]]
    assert await ids(sent="2026-01-01") == [first["id"]]
    prescription = await store.create({
        "resourceType": "MedicationRequest", "status": "active", "intent": "order",
        "medicationCodeableConcept": {"text": "Morphine"},
        "subject": reference_to(pat), "requester": reference_to(doc)})
    page = await store.search("MedicationRequest", {"subject": f"Patient/{pat['id']}",
                                                    "requester": "Practitioner/doc-1"})
    assert [r["id"] for r in page.resources] == [prescription["id"]]


async def test_transaction_is_all_or_nothing(store: FhirStore) -> None:
    results = await store.transaction([
        Put(patient("Tx", id="tx-patient")),
        Create({"resourceType": "Communication", "status": "completed",
                "subject": {"reference": "Patient/tx-patient"}}),
    ])
    assert results[0].created
    assert results[0].resource is not None
    assert results[0].resource["id"] == "tx-patient"
    assert results[1].resource is not None
    assert results[1].created
    with pytest.raises(PreconditionFailed):
        await store.transaction([
            Put(patient("Tx2", id="tx-second")),
            Put(patient("Tx", id="tx-patient"), expected_version="7"),
        ])
    with pytest.raises(NotFound):
        await store.read("Patient", "tx-second")
    deleted = await store.transaction([Delete("Patient", "tx-patient")])
    assert deleted[0].resource is None
    with pytest.raises(NotFound):
        await store.read("Patient", "tx-patient")
