"""Interoperability over a real socket: fhirpy's conditional create (get_or_create),
conditional update and delete by search, and a transaction Bundle whose entries reference
each other by urn:uuid."""

from __future__ import annotations

import pytest
from fhir.resources.R4B.bundle import Bundle
from fhirpy import AsyncFHIRClient
from fhirpy.base.exceptions import MultipleResourcesFound

from tests.fhir.conftest import SERVICE_TOKEN

MRN = "urn:fhirpy-mrn"


def client_for(facade_url: str) -> AsyncFHIRClient:
    return AsyncFHIRClient(facade_url, authorization=f"Bearer {SERVICE_TOKEN}")


async def test_fhirpy_conditional_create_update_and_delete(facade_url: str) -> None:
    client = client_for(facade_url)
    by_mrn = client.resources("Patient").search(identifier=f"{MRN}|F-1")
    fresh = client.resource("Patient", identifier=[{"system": MRN, "value": "F-1"}],
                            name=[{"family": "Pyconditional"}])
    made, created = await by_mrn.get_or_create(fresh)
    assert created
    again, created_again = await by_mrn.get_or_create(fresh)
    assert (again.id, created_again) == (made.id, False)
    assert await by_mrn.count() == 1

    changed, created = await by_mrn.update(client.resource(
        "Patient", identifier=[{"system": MRN, "value": "F-1"}], gender="female"))
    assert (changed.id, created, changed["gender"]) == (made.id, False, "female")
    assert changed["meta"]["versionId"] == "2"

    twin = client.resource("Patient", identifier=[{"system": MRN, "value": "F-1"}])
    await twin.save()
    with pytest.raises(MultipleResourcesFound):
        await by_mrn.get_or_create(fresh)
    await twin.delete()  # type: ignore[no-untyped-call]
    _, status = await by_mrn.delete()
    assert status == 204
    assert await by_mrn.count() == 0


async def test_fhirpy_transaction_with_placeholders(facade_url: str) -> None:
    client = client_for(facade_url)
    org = "urn:uuid:1c9e4b7a-2d3f-4e58-9a61-b0c2d4e6f801"
    pat = "urn:uuid:5a7b9c1d-3e2f-4061-8273-94a5b6c7d802"
    bundle = {"resourceType": "Bundle", "type": "transaction", "entry": [
        {"fullUrl": pat, "request": {"method": "POST", "url": "Patient"},
         "resource": {"resourceType": "Patient", "managingOrganization": {"reference": org}}},
        {"fullUrl": org, "request": {"method": "POST", "url": "Organization"},
         "resource": {"resourceType": "Organization", "name": "Pyorg"}},
    ]}
    answer = await client.execute("", data=bundle)
    Bundle.model_validate(answer)
    pat_id, org_id = (entry["resource"]["id"] for entry in answer["entry"])
    patient = await client.reference("Patient", pat_id).to_resource()
    assert patient["managingOrganization"]["reference"] == f"Organization/{org_id}"
