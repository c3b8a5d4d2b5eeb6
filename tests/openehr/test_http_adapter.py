"""The EHRbase adapter's edges: base URLs, credentials, and failures mapped to the error tree."""

from __future__ import annotations

import base64
import socket
from pathlib import Path

import httpx
import pytest
from fastapi import FastAPI

from quill.app import create_app
from quill.clock import ManualClock
from quill.errors import Upstream, UpstreamTimeout
from quill.openehr.http import EhrbaseCompositionStore, make_client, rest_base_url
from tests.conftest import make_settings
from tests.openehr.conftest import adapter_for
from tests.openehr.rawhttp import raw_peer


def test_rest_base_url_accepts_root_context_or_full_base() -> None:
    full = "http://ehr:8080/ehrbase/rest/openehr/v1"
    assert rest_base_url("http://ehr:8080") == full
    assert rest_base_url("http://ehr:8080/ehrbase/") == full
    assert rest_base_url(full) == full
    assert rest_base_url("http://quill:8000/openehr/v1") == "http://quill:8000/openehr/v1"


@pytest.mark.parametrize("database_url", ["sqlite"], indirect=True)
async def test_basic_auth_and_timeout_come_from_settings(database_url: str,
                                                         tmp_path: Path) -> None:
    async with raw_peer(404) as peer:
        settings = make_settings(database_url, tmp_path, ehrbase_url=peer.url,
                                 ehrbase_user="ehr", ehrbase_password="pw",
                                 outbound_timeout_seconds=3.5)
        async with make_client(settings) as client:
            assert client.timeout.read == 3.5
            assert await EhrbaseCompositionStore(client).find_ehr("p", "ns") is None
    request = peer.requests[0].decode()
    assert request.startswith("GET /ehrbase/rest/openehr/v1/ehr?subject_id=p&subject_namespace=ns")
    credentials = base64.b64encode(b"ehr:pw").decode()
    assert f"Authorization: Basic {credentials}\r\n" in request


@pytest.mark.parametrize("database_url", ["sqlite"], indirect=True)
async def test_bearer_token_wins_over_basic(database_url: str, tmp_path: Path) -> None:
    async with raw_peer(404) as peer:
        settings = make_settings(database_url, tmp_path, ehrbase_url=peer.url,
                                 ehrbase_token="tok-123", ehrbase_user="ehr")
        async with make_client(settings) as client:
            await EhrbaseCompositionStore(client).find_ehr("p", "ns")
    assert "authorization: bearer tok-123" in peer.requests[0].decode().lower()


@pytest.mark.parametrize("database_url", ["sqlite"], indirect=True)
async def test_server_errors_are_upstream(database_url: str, tmp_path: Path) -> None:
    async with raw_peer(500, b'{"error": "db down"}') as peer:
        settings = make_settings(database_url, tmp_path, ehrbase_url=peer.url)
        async with make_client(settings) as client:
            store = EhrbaseCompositionStore(client)
            with pytest.raises(Upstream) as caught:
                await store.ensure_ehr("p", "ns")
    assert caught.value.status_code == 502
    assert not isinstance(caught.value, UpstreamTimeout)


@pytest.mark.parametrize("database_url", ["sqlite"], indirect=True)
async def test_silent_server_is_a_timeout(database_url: str, tmp_path: Path) -> None:
    async with raw_peer(None) as peer:
        settings = make_settings(database_url, tmp_path, ehrbase_url=peer.url,
                                 outbound_timeout_seconds=0.2)
        async with make_client(settings) as client:
            with pytest.raises(UpstreamTimeout) as caught:
                await EhrbaseCompositionStore(client).find_ehr("p", "ns")
    assert caught.value.status_code == 504


@pytest.mark.parametrize("database_url", ["sqlite"], indirect=True)
async def test_unreachable_server_is_upstream(database_url: str, tmp_path: Path) -> None:
    with socket.socket() as probe:
        probe.bind(("127.0.0.1", 0))
        port = probe.getsockname()[1]
    settings = make_settings(database_url, tmp_path, ehrbase_url=f"http://127.0.0.1:{port}")
    async with make_client(settings) as client:
        store = EhrbaseCompositionStore(client)
        with pytest.raises(Upstream):
            await store.find_ehr("p", "ns")
        assert await _probe(store) is False


async def _probe(store: EhrbaseCompositionStore) -> bool:
    try:
        return await store.available()
    except Upstream:
        return False


async def test_wrong_credentials_are_upstream(
    facade_url: str, database_url: str, tmp_path: Path
) -> None:
    adapter = adapter_for(facade_url, database_url, tmp_path, ehrbase_token="wrong")
    async with adapter.client:
        with pytest.raises(Upstream):
            await adapter.find_ehr("p", "ns")


async def test_health_reports_the_external_server(
    app: FastAPI, facade_url: str, database_url: str, tmp_path: Path, clock: ManualClock
) -> None:
    from tests.openehr.server import SERVICE_TOKEN

    settings = make_settings(database_url, tmp_path / "client",
                             ehrbase_url=f"{facade_url}/openehr/v1", ehrbase_token=SERVICE_TOKEN)
    external = create_app(settings, clock=clock)
    async with external.router.lifespan_context(external):
        transport = httpx.ASGITransport(app=external)
        async with httpx.AsyncClient(transport=transport, base_url="http://t") as http:
            body = (await http.get("/api/health")).json()
            assert body["services"]["ehrbase"] == {"available": True}
            # With an external store the facade is not served (it would show the wrong store).
            assert (await http.get("/openehr/v1/ehr")).status_code == 404
    broken = make_settings(database_url, tmp_path / "broken",
                           ehrbase_url=f"{facade_url}/openehr/v1", ehrbase_token="nope")
    degraded = create_app(broken, clock=clock)
    async with degraded.router.lifespan_context(degraded):
        transport = httpx.ASGITransport(app=degraded)
        async with httpx.AsyncClient(transport=transport, base_url="http://t") as http:
            body = (await http.get("/api/health")).json()
            assert body["status"] == "degraded"
            assert body["services"]["ehrbase"] == {"available": False}
