"""The HTTP adapter against a scripted FHIR server on a real loopback socket: retries only
for reads, headers it sends, error mapping, timeouts, and where it follows paging links."""

from __future__ import annotations

import asyncio
from collections.abc import AsyncIterator
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import httpx
import pytest
from starlette.applications import Starlette
from starlette.requests import Request
from starlette.responses import JSONResponse, Response
from starlette.routing import Route

from quill.app import create_app
from quill.errors import (
    Conflict,
    Invalid,
    NotFound,
    Unprocessable,
    Upstream,
    UpstreamTimeout,
)
from quill.fhir.http import HttpFhirGateway, HttpFhirStore
from tests.conftest import make_settings
from tests.fhir.conftest import serve, stop

PATIENT = {"resourceType": "Patient", "id": "p1", "meta": {"versionId": "4"}}


def outcome(text: str) -> dict[str, Any]:
    return {"resourceType": "OperationOutcome",
            "issue": [{"severity": "error", "code": "invalid", "diagnostics": text}]}


@dataclass
class Upstream_:
    script: list[tuple[int, Any]] = field(default_factory=list)
    seen: list[Request] = field(default_factory=list)
    bodies: list[bytes] = field(default_factory=list)
    hang: asyncio.Event = field(default_factory=asyncio.Event)
    url: str = ""

    async def handle(self, request: Request) -> Response:
        self.seen.append(request)
        self.bodies.append(await request.body())
        status, body = self.script.pop(0) if self.script else (200, PATIENT)
        if status == 0:
            await self.hang.wait()
        return JSONResponse(body, status_code=status)


@pytest.fixture
async def upstream() -> AsyncIterator[Upstream_]:
    fake = Upstream_()
    app = Starlette(routes=[Route("/{path:path}", fake.handle,
                                  methods=["GET", "POST", "PUT", "DELETE"])])
    server, task, origin = await serve(app)  # type: ignore[arg-type]
    fake.url = f"{origin}/base"
    try:
        yield fake
    finally:
        fake.hang.set()
        await stop(server, task)


@pytest.fixture
async def adapter(upstream: Upstream_) -> AsyncIterator[HttpFhirStore]:
    store = HttpFhirStore(upstream.url, token="tok-123", timeout_seconds=2)
    try:
        yield store
    finally:
        await store.aclose()


async def test_reads_are_retried_and_writes_are_not(upstream: Upstream_,
                                                    adapter: HttpFhirStore) -> None:
    upstream.script = [(503, outcome("busy")), (200, PATIENT)]
    assert (await adapter.read("Patient", "p1"))["id"] == "p1"
    assert [r.method for r in upstream.seen] == ["GET", "GET"]
    upstream.seen.clear()
    upstream.script = [(503, outcome("busy"))]
    with pytest.raises(Upstream) as caught:
        await adapter.create({"resourceType": "Patient"})
    assert caught.value.status_code == 502
    assert [r.method for r in upstream.seen] == ["POST"]


async def test_headers_sent(upstream: Upstream_, adapter: HttpFhirStore) -> None:
    await adapter.update({"resourceType": "Patient", "id": "p1"}, expected_version="3")
    request = upstream.seen[-1]
    assert request.method == "PUT"
    assert request.url.path == "/base/Patient/p1"
    assert request.headers["authorization"] == "Bearer tok-123"
    assert request.headers["if-match"] == 'W/"3"'
    assert request.headers["accept"] == "application/fhir+json"


async def test_errors_map_to_the_domain_tree(upstream: Upstream_,
                                             adapter: HttpFhirStore) -> None:
    cases: list[tuple[int, type[Exception]]] = [
        (404, NotFound), (410, NotFound), (400, Invalid), (409, Conflict),
        (422, Unprocessable), (500, Upstream), (401, Upstream)]
    for status, error in cases:
        upstream.script = [(status, outcome(f"said {status}"))] * 3
        with pytest.raises(error) as caught:
            await adapter.read("Patient", "p1")
        if status < 500 and status != 401:
            assert f"said {status}" in str(caught.value.detail)  # type: ignore[attr-defined]
    upstream.script = [(200, {"resourceType": "Patient", "birthDate": "nope"})]
    with pytest.raises(Upstream):
        await adapter.read("Patient", "p1")


async def test_timeouts_become_upstream_timeout(upstream: Upstream_) -> None:
    store = HttpFhirStore(upstream.url, timeout_seconds=0.05)
    try:
        upstream.script = [(0, PATIENT)]
        with pytest.raises(UpstreamTimeout) as caught:
            await store.create({"resourceType": "Patient"})
        assert caught.value.status_code == 504
    finally:
        await store.aclose()


async def test_paging_links_stay_on_the_configured_server(upstream: Upstream_,
                                                          adapter: HttpFhirStore) -> None:
    bundle = {"resourceType": "Bundle", "type": "searchset", "total": 2,
              "entry": [{"resource": PATIENT, "search": {"mode": "match"}},
                        {"resource": {"resourceType": "OperationOutcome", "issue": []},
                         "search": {"mode": "outcome"}}],
              "link": [{"relation": "next", "url": f"{upstream.url}/Patient?page=2"}]}
    upstream.script = [(200, bundle)]
    page = await adapter.search("Patient", {"family": "x"}, count=1)
    assert page.total == 2
    assert [r["id"] for r in page.resources] == ["p1"]
    assert upstream.seen[-1].query_params["_count"] == "1"
    assert page.next_cursor is not None
    upstream.script = [(200, {**bundle, "link": []})]
    await adapter.search("Patient", {"family": "x"}, cursor=page.next_cursor)
    assert upstream.seen[-1].url.query == "page=2"
    seen = len(upstream.seen)
    for foreign in ("http://evil.example/base/Patient?page=2", "/elsewhere/Patient"):
        with pytest.raises(Upstream):
            await adapter.search("Patient", {}, cursor=foreign)
    assert len(upstream.seen) == seen
    with pytest.raises(Invalid):
        await adapter.search("Patient", {"colour": "red"})
    assert len(upstream.seen) == seen


@pytest.mark.parametrize("link", [
    "{base}/../admin", "{base}/Patient/../../admin?page=2", "/base/../admin",
    "{base}/%2e%2e/admin", "{base}/%2E%2e/%2e%2e/x", "{base}/..%2fadmin", "../admin",
    "{base}x/Patient", "{base}", "{origin}:1/base/Patient", "https://{host}/base/Patient",
    "http://user@{host}/base/Patient",
])
async def test_paging_links_outside_the_base_are_refused_without_the_token(
        upstream: Upstream_, adapter: HttpFhirStore, link: str) -> None:
    origin = upstream.url.removesuffix("/base")
    cursor = link.format(base=upstream.url, origin=origin.rsplit(":", 1)[0],
                         host=origin.removeprefix("http://"))
    with pytest.raises(Upstream):
        await adapter.search("Patient", {}, cursor=cursor)
    assert upstream.seen == []


async def test_paging_links_are_normalised_within_the_base(
        upstream: Upstream_, adapter: HttpFhirStore) -> None:
    upstream.script = [(200, {"resourceType": "Bundle", "type": "searchset"})]
    await adapter.search("Patient", {}, cursor=f"{upstream.url}/x/./../Patient?page=3")
    assert upstream.seen[-1].url.path == "/base/Patient"
    assert upstream.seen[-1].url.query == "page=3"


async def test_app_uses_external_store_and_probes_its_metadata(
        upstream: Upstream_, database_url: str, tmp_path: Path) -> None:
    settings = make_settings(database_url, tmp_path, fhir_url=upstream.url, fhir_token="t")
    app = create_app(settings)
    async with app.router.lifespan_context(app), httpx.AsyncClient(
            transport=httpx.ASGITransport(app=app), base_url="http://t") as http:
        assert app.state.runtime.fhir.external
        assert isinstance(app.state.runtime.fhir.inner, HttpFhirGateway)
        upstream.script = [(200, {"resourceType": "CapabilityStatement"})]
        health = (await http.get("/api/health")).json()
        assert health["services"]["fhir"]["available"] is True
        assert upstream.seen[-1].url.path == "/base/metadata"
        upstream.script = [(500, outcome("down"))] * 3
        health = (await http.get("/api/health")).json()
        assert health["services"]["fhir"]["available"] is False
