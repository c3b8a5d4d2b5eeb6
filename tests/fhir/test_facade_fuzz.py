"""Odd input never makes the facade answer 5xx: random search parameters, ids and bodies."""

from __future__ import annotations

import json
from typing import Any
from urllib.parse import quote

import httpx
import pytest
from hypothesis import HealthCheck, Phase, given, settings
from hypothesis import strategies as st

from tests.fhir.conftest import SERVICE_TOKEN

SVC = {"Authorization": f"Bearer {SERVICE_TOKEN}"}
NAMES = st.sampled_from(["identifier", "name", "family", "birthdate", "gender", "active",
                         "_id", "_lastUpdated", "_count", "_sort", "_cursor", "subject",
                         "sent", "part-of", "zzz", "name:exact"])
VALUES = st.one_of(
    st.text(max_size=30),
    st.sampled_from(["ge9999", "le0000", "9999-12", "2026-02-30", "ge", "a|", "|", "|b",
                     "x,y,", "Patient/", "-1", "99999999999", "\x00", "\U0010ffff",
                     "eq2026-01-01T25:00:00Z", "2026-01-01T10:00:00+14:00"]))
JSON = st.recursive(st.none() | st.booleans() | st.integers() | st.text(max_size=10),
                    lambda inner: st.lists(inner, max_size=3)
                    | st.dictionaries(st.text(max_size=8), inner, max_size=3), max_leaves=8)
BODIES = st.one_of(
    JSON,
    st.fixed_dictionaries({"resourceType": st.just("Patient")},
                          optional={"birthDate": VALUES, "name": JSON, "id": VALUES,
                                    "gender": VALUES, "active": JSON}))
SETTINGS = settings(max_examples=40, database=None, deadline=None, derandomize=True,
                    phases=[Phase.generate], suppress_health_check=list(HealthCheck))


def _cases(strategy: st.SearchStrategy[Any]) -> list[Any]:
    found: list[Any] = []

    @SETTINGS
    @given(strategy)
    def collect(case: Any) -> None:
        found.append(case)

    collect()
    return found


@pytest.mark.parametrize("database_url", ["sqlite", "postgres"], indirect=True)
async def test_odd_input_gets_4xx_not_5xx(client: httpx.AsyncClient) -> None:
    for params in _cases(st.lists(st.tuples(NAMES, VALUES), max_size=3)):
        response = await client.get("/fhir/Patient", params=params, headers=SVC)
        assert response.status_code < 500, (params, response.text)
    for body in _cases(BODIES):
        response = await client.post("/fhir/Patient", content=json.dumps(body), headers=SVC)
        assert response.status_code < 500, (body, response.text)
        if response.status_code == 201:
            rid = response.json()["id"]
            found = await client.get("/fhir/Patient", params={"_id": rid}, headers=SVC)
            assert found.json()["total"] == 1
    for ident in _cases(st.text(max_size=20)):
        response = await client.get(f"/fhir/Patient/{quote(ident, safe='')}", headers=SVC)
        assert response.status_code < 500, (ident, response.text)
