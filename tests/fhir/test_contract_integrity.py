"""Contract, continued: deleted versus never-existed, required bindings, referential
integrity and the ``patient`` search parameter, kept alike by the embedded store and the
HTTP adapter talking to the facade."""

from __future__ import annotations

from typing import Any

import pytest

from quill.errors import Gone, NotFound, Unprocessable
from quill.fhir import Create, FhirStore, Put, reference_to


def patient(family: str, **fields: Any) -> dict[str, Any]:
    return {"resourceType": "Patient", "name": [{"family": family}], **fields}


def prescription(subject: str, **fields: Any) -> dict[str, Any]:
    return {"resourceType": "MedicationRequest", "status": "active", "intent": "order",
            "medicationCodeableConcept": {"text": "Morphine"},
            "subject": {"reference": subject}, **fields}


async def test_deleted_is_gone_and_never_existed_is_not_found(store: FhirStore) -> None:
    created = await store.create(patient("Gone"))
    await store.delete("Patient", created["id"])
    with pytest.raises(Gone):
        await store.read("Patient", created["id"])
    with pytest.raises(Gone):
        await store.vread("Patient", created["id"], "2")
    assert (await store.vread("Patient", created["id"], "1"))["id"] == created["id"]
    with pytest.raises(NotFound) as never:
        await store.read("Patient", "never-existed")
    assert not isinstance(never.value, Gone)
    with pytest.raises(NotFound) as no_version:
        await store.vread("Patient", created["id"], "3")
    assert not isinstance(no_version.value, Gone)


@pytest.mark.parametrize("resource", [
    patient("Odd", gender="woman"),
    {"resourceType": "Communication", "status": "sent"},
    {"resourceType": "MedicationRequest", "status": "bogus", "intent": "order",
     "medicationCodeableConcept": {"text": "x"}, "subject": {"reference": "#x"}},
    {"resourceType": "MedicationRequest", "status": "active", "intent": "wish",
     "medicationCodeableConcept": {"text": "x"}, "subject": {"reference": "#x"}},
])
async def test_required_bindings_are_checked_on_write(store: FhirStore,
                                                      resource: dict[str, Any]) -> None:
    with pytest.raises(Unprocessable):
        await store.create(resource)
    with pytest.raises(Unprocessable):
        await store.update({**resource, "id": "bound-1"})
    with pytest.raises(Unprocessable):
        await store.transaction([Create(resource)])
    with pytest.raises(NotFound):
        await store.read(resource["resourceType"], "bound-1")


async def test_local_references_must_resolve(store: FhirStore) -> None:
    with pytest.raises(Unprocessable) as missing:
        await store.create(prescription("Patient/x"))
    assert "Patient/x" in repr(missing.value.detail)
    pat = await store.create(patient("Ref"))
    ok = await store.create(prescription(f"Patient/{pat['id']}"))
    assert ok["subject"]["reference"] == f"Patient/{pat['id']}"
    # Nested and extension references count too; absolute URLs and urn: do not.
    with pytest.raises(Unprocessable):
        await store.update({**ok, "extension": [{
            "url": "urn:quill:test", "valueReference": {"reference": "Communication/none"}}]})
    external = await store.create({**prescription(f"Patient/{pat['id']}"),
                                   "requester": {"reference": "https://elsewhere/Practitioner/1"}})
    assert external["id"]
    # Within a transaction an earlier entry is there for a later one to point at.
    results = await store.transaction([
        Put(patient("Tx", id="ref-tx-patient")),
        Create(prescription("Patient/ref-tx-patient")),
    ])
    assert results[1].resource is not None
    await store.delete("Patient", pat["id"])
    with pytest.raises(Unprocessable):
        await store.create(prescription(f"Patient/{pat['id']}"))


async def test_an_update_checks_its_references_at_a_new_id_and_an_existing_one(
        store: FhirStore) -> None:
    pat = await store.create(patient("Both"))
    gone = await store.create(patient("Gone"))
    await store.delete("Patient", gone["id"])
    pointing = {"url": "urn:quill:test", "valueReference": {"reference": "Communication/none"}}
    # At a new id: of a stored and a missing reference only the missing one is named.
    with pytest.raises(Unprocessable) as missing:
        await store.update({**prescription(f"Patient/{pat['id']}", extension=[pointing]),
                            "id": "ref-new-1"})
    assert "Communication/none" in repr(missing.value.detail)
    assert f"Patient/{pat['id']}" not in repr(missing.value.detail)
    with pytest.raises(NotFound):
        await store.read("MedicationRequest", "ref-new-1")
    # A deleted resource is no target, whether the update creates or replaces.
    with pytest.raises(Unprocessable):
        await store.update({**prescription(f"Patient/{gone['id']}"), "id": "ref-new-2"})
    stored = await store.update({**prescription(f"Patient/{pat['id']}"), "id": "ref-new-2"})
    assert stored["meta"]["versionId"] == "1"
    with pytest.raises(Unprocessable):
        await store.update({**stored, "subject": {"reference": f"Patient/{gone['id']}"}})
    # A resource may point at itself once it is stored, and not before.
    link = [{"other": {"reference": "Patient/ref-self"}, "type": "seealso"}]
    with pytest.raises(Unprocessable):
        await store.update(patient("Self", id="ref-self", link=link))
    await store.update(patient("Self", id="ref-self"))
    linked = await store.update(patient("Self", id="ref-self", link=link))
    assert linked["meta"]["versionId"] == "2"


async def test_patient_search_parameter(store: FhirStore) -> None:
    pat = await store.create(patient("Searched"))
    other = await store.create(patient("Other"))
    mine = await store.create(prescription(f"Patient/{pat['id']}"))
    await store.create(prescription(f"Patient/{other['id']}"))
    message = await store.create({"resourceType": "Communication", "status": "completed",
                                  "subject": reference_to(pat)})
    for value in (pat["id"], f"Patient/{pat['id']}"):
        page = await store.search("MedicationRequest", {"patient": value})
        assert [r["id"] for r in page.resources] == [mine["id"]]
        page = await store.search("Communication", {"patient": value})
        assert [r["id"] for r in page.resources] == [message["id"]]
