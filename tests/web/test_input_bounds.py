"""Every integer and text input is bounded: out-of-range ids are a 422, never a driver error.

The document walk makes a new unbounded parameter or body field fail here, so a route
added later cannot forget its bounds; the request tests show the bounds hold at run time.
"""

from __future__ import annotations

from collections.abc import Iterator
from typing import Any

import httpx
import pytest
from fastapi import FastAPI

from quill.db.keyset import MAX_DB_ID
from tests.messaging.support import messaging_world, start_thread

HUGE = 99_999_999_999_999_999_999
JUST_OVER = MAX_DB_ID + 1
# Strings whose length a format or a fixed set of values already bounds.
_BOUNDED_FORMATS = {"date", "date-time", "email", "uuid", "uri"}


def _leaves(schema: dict[str, Any], where: str, components: dict[str, Any],
            seen: frozenset[str] = frozenset()) -> Iterator[tuple[str, dict[str, Any]]]:
    """Every scalar and array schema reachable from ``schema``, with where it was found."""
    if "$ref" in schema:
        name = schema["$ref"].rsplit("/", 1)[-1]
        if name not in seen:
            yield from _leaves(components[name], f"{where}->{name}", components, seen | {name})
        return
    for key in ("anyOf", "oneOf", "allOf"):
        for part in schema.get(key, []):
            yield from _leaves(part, where, components, seen)
    yield where, schema
    if schema.get("type") == "array":
        yield from _leaves(schema.get("items", {}), f"{where}[]", components, seen)
    for name, part in schema.get("properties", {}).items():
        yield from _leaves(part, f"{where}.{name}", components, seen)
    extra = schema.get("additionalProperties")
    if isinstance(extra, dict):
        yield from _leaves(extra, f"{where}.*", components, seen)


def _inputs(document: dict[str, Any]) -> Iterator[tuple[str, dict[str, Any]]]:
    components = document["components"]["schemas"]
    for path, item in document["paths"].items():
        for method, operation in item.items():
            for parameter in operation.get("parameters", []):
                where = f"{method.upper()} {path} {parameter['in']}:{parameter['name']}"
                yield from _leaves(parameter["schema"], where, components)
            for content in operation.get("requestBody", {}).get("content", {}).values():
                yield from _leaves(content["schema"], f"{method.upper()} {path} body",
                                   components)


def _unbounded(where: str, schema: dict[str, Any]) -> str | None:
    kind = schema.get("type")
    if kind == "integer" and "maximum" not in schema:
        return f"{where}: integer without maximum"
    if kind == "integer" and "minimum" not in schema:
        return f"{where}: integer without minimum"
    if kind == "string" and not ({"maxLength", "enum", "const"} & set(schema)
                                 or schema.get("format") in _BOUNDED_FORMATS):
        return f"{where}: string without maxLength"
    if kind == "array" and "maxItems" not in schema:
        return f"{where}: array without maxItems"
    return None


@pytest.mark.parametrize("database_url", ["sqlite"], indirect=True)
async def test_every_integer_text_and_list_input_is_bounded(app: FastAPI) -> None:
    document = app.openapi()
    problems = [problem for where, schema in _inputs(document)
                if (problem := _unbounded(where, schema))]
    assert not problems, "\n".join(problems)
    ids = {where: schema["maximum"] for where, schema in _inputs(document)
           if schema.get("type") == "integer" and where.endswith(("_id", "_ids[]"))}
    assert len(ids) >= 10
    assert all(maximum <= MAX_DB_ID for maximum in ids.values()), ids


@pytest.mark.parametrize("value", [HUGE, JUST_OVER, 0])
async def test_out_of_range_path_ids_are_422(app: FastAPI, client: httpx.AsyncClient,
                                              value: int) -> None:
    world = await messaging_world(app)
    staff = world.headers["staff_same"]
    paths = [f"/api/conversations/{value}", f"/api/conversations/{value}/participants",
             f"/api/users/{value}", f"/api/organizations/{value}"]
    for path in paths:
        response = await client.get(path, headers=world.headers["admin"] if "/users" in path
                                    or "/organizations" in path else staff)
        assert response.status_code == 422, (path, response.text)
        [issue] = response.json()["detail"]
        assert issue["loc"][0] == "path"


@pytest.mark.parametrize("value", [HUGE, JUST_OVER])
async def test_out_of_range_body_ids_are_422(app: FastAPI, client: httpx.AsyncClient,
                                              value: int) -> None:
    world = await messaging_world(app)
    staff = world.headers["staff_same"]
    thread = await start_thread(client, world)
    base = f"/api/conversations/{thread['id']}"
    attempts: list[tuple[str, dict[str, Any]]] = [
        ("/api/conversations", {"patient_id": world.patient_a, "initial_message": "Hello",
                                "participant_ids": [value]}),
        (f"{base}/messages", {"body": "Corrected", "amends_id": value}),
        (f"{base}/participants", {"user_id": value}),
    ]
    for path, body in attempts:
        response = await client.post(path, json=body, headers=staff)
        assert response.status_code == 422, (path, response.text)
        assert "less than or equal" in response.text
    registered = await client.post("/api/auth/register", json={
        "username": "bounded", "email": "bounded@example.org", "password": "long enough pw",
        "organisation_id": value})
    assert registered.status_code == 422, registered.text


async def test_largest_id_is_still_an_ordinary_404(app: FastAPI,
                                                   client: httpx.AsyncClient) -> None:
    world = await messaging_world(app)
    response = await client.get(f"/api/conversations/{MAX_DB_ID}",
                                headers=world.headers["staff_same"])
    assert response.status_code == 404, response.text
