"""Interoperability: the fhirpy async client creates, reads, searches and pages Patients
through the facade served over a real socket."""

from __future__ import annotations

import pytest
from fhirpy import AsyncFHIRClient
from fhirpy.base.exceptions import ResourceNotFound

from tests.fhir.conftest import SERVICE_TOKEN


async def test_fhirpy_create_read_search_and_page(facade_url: str) -> None:
    client = AsyncFHIRClient(facade_url, authorization=f"Bearer {SERVICE_TOKEN}")
    made = []
    for n in range(7):
        resource = client.resource(
            "Patient", name=[{"family": "Interop", "given": [f"P{n}"]}],
            identifier=[{"system": "urn:interop", "value": f"I{n}"}], gender="other")
        await resource.save()
        made.append(resource.id)
    assert all(made)
    fetched = await client.reference("Patient", made[3]).to_resource()
    assert fetched["identifier"][0]["value"] == "I3"

    found = await client.resources("Patient").search(identifier="urn:interop|I5").fetch()
    assert [p.id for p in found] == [made[5]]
    assert await client.resources("Patient").search(family="interop").count() == 7

    every = await client.resources("Patient").search(family="interop").limit(3).fetch_all()
    assert [p.id for p in every] == made
    first_page = await client.resources("Patient").search(family="interop").limit(3).fetch()
    assert len(first_page) == 3

    fetched["gender"] = "female"
    await fetched.save()
    assert (await client.reference("Patient", made[3]).to_resource())["gender"] == "female"
    await fetched.delete()  # type: ignore[no-untyped-call]
    with pytest.raises(ResourceNotFound):
        await client.reference("Patient", made[3]).to_resource()
