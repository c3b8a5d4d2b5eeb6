"""An openEHR REST client library (oehrpy) drives the facade over a real socket.

oehrpy addresses a server the way EHRbase lays it out, ``<base>/rest/openehr/v1/...``;
Quill serves ``/openehr/v1``. ``ehrbase_layout`` is the one-line path mapping a reverse
proxy would do in front of Quill, nothing more. What oehrpy has no call for (the
revision history) is read with plain httpx on the same socket.
"""

from __future__ import annotations

from collections.abc import AsyncIterator
from pathlib import Path

import httpx
import pytest
from fastapi import FastAPI
from oehrpy.client import (  # type: ignore[import-untyped]  # ships no py.typed
    AuthenticationError,
    BearerAuth,
    CompositionFormat,
    NotFoundError,
    OpenEHRClient,
    ValidationError,
)
from starlette.types import ASGIApp, Receive, Scope, Send

from quill.clock import ManualClock
from quill.errors import Invalid
from quill.letters.composition import ARCHETYPE_ID, Letter, build_letter
from quill.openehr.http import FIRST_PAGE_TIME, FIRST_PAGE_UID, LIST_QUERY
from tests.helpers import logged_in
from tests.loopback import serve
from tests.openehr.conftest import adapter_for

CANONICAL = CompositionFormat.CANONICAL
EHRBASE_PREFIX = "/rest/openehr/v1"


def ehrbase_layout(app: ASGIApp) -> ASGIApp:
    """Map EHRbase's ``/rest/openehr/v1`` onto Quill's ``/openehr/v1``, as a proxy would."""
    async def mapped(scope: Scope, receive: Receive, send: Send) -> None:
        if scope["type"] == "http" and scope["path"].startswith(EHRBASE_PREFIX):
            scope = {**scope, "path": scope["path"].removeprefix("/rest"),
                     "raw_path": scope["raw_path"].removeprefix(b"/rest")}
        await app(scope, receive, send)
    return mapped


def letter(clock: ManualClock, title: str) -> dict[str, object]:
    return build_letter(Letter(title=title, body="Body", author_name="Dr A",
                               author_email="a@example.org", created_at=clock.now()))


@pytest.fixture
async def base_url(app: FastAPI) -> AsyncIterator[str]:
    async with serve(ehrbase_layout(app)) as url:
        yield url


async def client_for(app: FastAPI, base_url: str, name: str
                     ) -> tuple[OpenEHRClient, dict[str, str]]:
    """An oehrpy client signed in as a new admin, and that admin's headers for httpx."""
    admin = await logged_in(app, name, level="admin", profession="administrator")
    token = admin.headers["Authorization"].removeprefix("Bearer ")
    return OpenEHRClient(base_url=base_url, auth_method=BearerAuth(token)), admin.headers


async def test_ehrs_compositions_versions_and_query(
    app: FastAPI, base_url: str, clock: ManualClock
) -> None:
    sdk_client, headers = await client_for(app, base_url, "sdk-admin")
    async with sdk_client as sdk:
        anonymous_ehr = await sdk.create_ehr()  # no body: the server picks the id
        assert (await sdk.get_ehr(anonymous_ehr.ehr_id)).ehr_id == anonymous_ehr.ehr_id
        ehr = await sdk.create_ehr(subject_id="patient-1", subject_namespace="sdk_ns")
        found = await sdk.get_ehr_by_subject("patient-1", "sdk_ns")
        assert found.ehr_id == ehr.ehr_id != anonymous_ehr.ehr_id
        created = await sdk.create_composition(ehr.ehr_id, letter(clock, "First"),
                                               format=CANONICAL)
        object_id = created.uid.split("::")[0]
        read = await sdk.get_composition(ehr.ehr_id, object_id)
        assert read.composition is not None
        assert read.composition["name"]["value"] == "First"
        updated = await sdk.update_composition(ehr.ehr_id, object_id, created.uid,
                                               letter(clock, "Second"), format=CANONICAL)
        assert updated.uid.endswith("::2")
        rows = (await sdk.query(LIST_QUERY, query_parameters={
            "ehr_id": ehr.ehr_id, "archetype_node_id": ARCHETYPE_ID,
            "before_time": FIRST_PAGE_TIME, "before_uid": FIRST_PAGE_UID})).rows
        assert [(row[0], row[1]) for row in rows] == [(updated.uid, "Second")]
        container = await sdk.get_versioned_composition(ehr.ehr_id, object_id)
        assert container.uid == object_id
        first = await sdk.get_composition_version(ehr.ehr_id, object_id, created.uid)
        assert first.data is not None
        assert first.data["name"]["value"] == "First"
        await sdk.delete_composition(ehr.ehr_id, updated.uid)
        gone = await sdk.get_composition(ehr.ehr_id, object_id)
        assert gone.uid == ""
        assert gone.composition == {}
    async with httpx.AsyncClient(base_url=f"{base_url}/openehr/v1") as http:
        history = await http.get(
            f"/ehr/{ehr.ehr_id}/versioned_composition/{object_id}/revision_history",
            headers=headers)
    assert [item["audits"][0]["change_type"]["value"] for item in history.json()["items"]] \
        == ["creation", "modification", "deleted"]


async def test_refusals_reach_the_client_as_its_own_errors(
    app: FastAPI, base_url: str, clock: ManualClock
) -> None:
    sdk_client, _ = await client_for(app, base_url, "sdk-refusals")
    async with sdk_client as sdk:
        ehr = await sdk.create_ehr()
        stray = letter(clock, "Stray attribute")
        stray["colour"] = "blue"
        with pytest.raises(ValidationError) as unknown:
            await sdk.create_composition(ehr.ehr_id, stray, format=CANONICAL)
        assert unknown.value.status_code == 400
        assert "colour" in str(unknown.value)
        naive = letter(clock, "No zone")
        naive["context"]["start_time"]["value"] = "2026-03-01T09:30:00"  # type: ignore[index]
        with pytest.raises(ValidationError) as zone:
            await sdk.create_composition(ehr.ehr_id, naive, format=CANONICAL)
        assert zone.value.status_code == 400
        assert "time zone" in str(zone.value)
        with pytest.raises(NotFoundError):
            await sdk.get_ehr("00000000-0000-0000-0000-000000000000")
    async with OpenEHRClient(base_url=base_url, auth_method=BearerAuth("wrong")) as stranger:
        with pytest.raises(AuthenticationError):
            await stranger.create_ehr()


async def test_the_adapter_passes_the_time_zone_reason_on(
    facade_url: str, database_url: str, tmp_path: Path, clock: ManualClock
) -> None:
    adapter = adapter_for(facade_url, database_url, tmp_path)
    async with adapter.client:
        ehr_id = await adapter.ensure_ehr("tz-patient", "tz_ns")
        naive = letter(clock, "No zone")
        naive["context"]["start_time"]["value"] = "2026-03-01T09:30:00"  # type: ignore[index]
        with pytest.raises(Invalid, match="time zone"):
            await adapter.create_composition(ehr_id, naive)
