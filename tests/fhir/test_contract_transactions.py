"""Transactions and conditional entries: placeholders (``urn:uuid``) resolve to the ids
assigned, conditional create/update/delete follow the R4 match rules. Run against the
embedded store and against the HTTP adapter talking to the facade over loopback."""

from __future__ import annotations

from typing import Any

import pytest

from quill.errors import Invalid, NotFound, PreconditionFailed
from quill.fhir import (
    ConditionalDelete,
    ConditionalPut,
    Create,
    FhirStore,
    Put,
)

ORG = "urn:uuid:6f1c4a52-0d7e-4c43-9b7a-1f3e5d2c9a10"
PAT = "urn:uuid:0b8e2f4d-51a3-4c6e-8d2b-7a9c1e3f5b20"
MRN = "urn:mrn"


def patient(mrn: str | None = None, **fields: Any) -> dict[str, Any]:
    resource: dict[str, Any] = {"resourceType": "Patient", "name": [{"family": "Tx"}], **fields}
    if mrn is not None:
        resource["identifier"] = [{"system": MRN, "value": mrn}]
    return resource


async def count(store: FhirStore, resource_type: str, **params: str) -> int:
    page = await store.search(resource_type, params)
    return len(page.resources)


async def test_placeholders_resolve_everywhere_in_the_resource(store: FhirStore) -> None:
    flag = {"url": "https://quill.invalid/StructureDefinition/registered-at",
            "valueReference": {"reference": ORG}}
    results = await store.transaction([
        Create(patient("P-1", managingOrganization={"reference": ORG},
                       generalPractitioner=[{"reference": "Practitioner/gp-1"},
                                            {"reference": ORG}],
                       extension=[flag],
                       contact=[{"organization": {"reference": ORG}}],
                       text={"status": "generated",
                             "div": f'<div xmlns="http://www.w3.org/1999/xhtml">'
                                    f'<a href="{ORG}">practice</a></div>'}),
               full_url=PAT),
        Put({"resourceType": "Practitioner", "id": "gp-1", "name": [{"family": "Gp"}]}),
        Create({"resourceType": "Organization", "name": "Practice"}, full_url=ORG),
        Create({"resourceType": "Communication", "status": "completed",
                "subject": {"reference": PAT}, "recipient": [{"reference": ORG}],
                "identifier": [{"system": "urn:ietf:rfc:3986", "value": PAT}]}),
    ])
    org, pat, comm = results[2].resource, results[0].resource, results[3].resource
    assert org is not None
    assert pat is not None
    assert comm is not None
    org_ref = f"Organization/{org['id']}"
    stored = await store.read("Patient", pat["id"])
    assert stored["managingOrganization"] == {"reference": org_ref}
    assert stored["generalPractitioner"] == [{"reference": "Practitioner/gp-1"},
                                             {"reference": org_ref}]
    assert stored["extension"][0]["valueReference"] == {"reference": org_ref}
    assert stored["contact"][0]["organization"] == {"reference": org_ref}
    assert f'href="{org_ref}"' in stored["text"]["div"]
    message = await store.read("Communication", comm["id"])
    assert message["subject"] == {"reference": f"Patient/{pat['id']}"}
    assert message["recipient"] == [{"reference": org_ref}]
    # An Identifier is a string, not a link: it keeps the value the client wrote.
    assert message["identifier"][0]["value"] == PAT
    assert await count(store, "Communication", subject=f"Patient/{pat['id']}") == 1


async def test_unknown_placeholder_or_shared_full_url_writes_nothing(store: FhirStore) -> None:
    with pytest.raises(Invalid):
        await store.transaction([
            Create(patient("P-2"), full_url=PAT),
            Create({"resourceType": "Communication", "status": "completed",
                    "subject": {"reference": "urn:uuid:00000000-0000-4000-8000-000000000000"}}),
        ])
    with pytest.raises(Invalid):
        await store.transaction([Create(patient("P-3"), full_url=PAT),
                                 Create(patient("P-4"), full_url=PAT)])
    with pytest.raises(Invalid):
        await store.transaction([Create(patient("P-5")), Put(patient("P-6"))])
    assert await count(store, "Patient", family="tx") == 0


async def test_conditional_create_in_a_transaction_reuses_the_match(store: FhirStore) -> None:
    existing = await store.create(patient("M-1"))
    results = await store.transaction([
        Create(patient("M-1", gender="male"), full_url=PAT,
               if_none_exist=f"identifier={MRN}|M-1"),
        Create({"resourceType": "Communication", "status": "completed",
                "subject": {"reference": PAT}}),
        Create(patient("M-2"), if_none_exist=f"Patient?identifier={MRN}|M-2"),
    ])
    matched, message, made = (r.resource for r in results)
    assert matched == existing
    assert (results[0].created, results[0].written) == (False, False)
    assert message is not None
    assert message["subject"] == {"reference": f"Patient/{existing['id']}"}
    assert made is not None
    assert (results[2].created, results[2].written) == (True, True)
    assert "gender" not in await store.read("Patient", existing["id"])
    assert [h.version_id for h in await store.history("Patient", existing["id"])] == ["1"]
    assert await count(store, "Patient", identifier=f"{MRN}|M-1") == 1


async def test_several_matches_fail_the_whole_transaction(store: FhirStore) -> None:
    await store.create(patient("D-1"))
    await store.create(patient("D-1"))
    for entry in (Create(patient("D-1"), if_none_exist=f"identifier={MRN}|D-1"),
                  ConditionalPut(patient("D-1"), f"identifier={MRN}|D-1"),
                  ConditionalDelete("Patient", f"identifier={MRN}|D-1")):
        with pytest.raises(PreconditionFailed):
            await store.transaction([Create(patient("D-2")), entry])
        assert await count(store, "Patient", identifier=f"{MRN}|D-2") == 0
    assert await count(store, "Patient", identifier=f"{MRN}|D-1") == 2


async def test_conditional_update_and_delete_entries(store: FhirStore) -> None:
    first = await store.transaction([ConditionalPut(patient("U-1"), f"identifier={MRN}|U-1")])
    created = first[0].resource
    assert created is not None
    assert first[0].created
    second = await store.transaction([
        ConditionalPut(patient("U-1", gender="female"), f"identifier={MRN}|U-1",
                       full_url=PAT),
        Create({"resourceType": "Communication", "status": "completed",
                "subject": {"reference": PAT}}),
    ])
    updated, message = second[0].resource, second[1].resource
    assert updated is not None
    assert message is not None
    assert (updated["id"], updated["meta"]["versionId"]) == (created["id"], "2")
    assert updated["gender"] == "female"
    assert message["subject"] == {"reference": f"Patient/{created['id']}"}
    gone = await store.transaction([ConditionalDelete("Patient", f"identifier={MRN}|U-1"),
                                    ConditionalDelete("Patient", f"identifier={MRN}|none")])
    assert [r.resource for r in gone] == [None, None]
    with pytest.raises(NotFound):
        await store.read("Patient", created["id"])


async def test_conditional_criteria_are_checked(store: FhirStore) -> None:
    for criteria in ("", "colour=blue", "_count=1", "Practitioner?identifier=x"):
        with pytest.raises(Invalid):
            await store.transaction([Create(patient("C-1"), if_none_exist=criteria)])
    assert await count(store, "Patient", identifier=f"{MRN}|C-1") == 0
