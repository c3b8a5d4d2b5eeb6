"""Cache-Control: no-store on every answer, and /metrics closed in production."""

from __future__ import annotations

from collections.abc import AsyncIterator
from pathlib import Path

import httpx
import pytest
from fastapi import FastAPI

from quill.app import create_app
from quill.clock import ManualClock
from quill.settings import Settings
from tests.conftest import make_settings
from tests.events.test_stream import STREAM
from tests.helpers import logged_in
from tests.loopback import serve

SERVICE_TOKEN = "no-store-test-service-token-0123456789abcdef"
METRICS_TOKEN = "metrics-test-token-5b1f0c9e7d3a2846afe0"


@pytest.fixture
def settings(database_url: str, tmp_path: Path) -> Settings:
    return make_settings(database_url, tmp_path, service_token=SERVICE_TOKEN,
                         fhir_facade_enabled=True, openehr_facade_enabled=True)


async def test_authenticated_api_and_facade_answers_are_not_stored(
    app: FastAPI, client: httpx.AsyncClient,
) -> None:
    alice = await logged_in(app, "alice")
    service = {"Authorization": f"Bearer {SERVICE_TOKEN}"}
    answers = [
        await client.get("/api/auth/me", headers=alice.headers),
        await client.get("/api/conversations", headers=alice.headers),
        await client.get("/api/auth/me"),  # the 401 too
        await client.get("/fhir/Patient", headers=service),
        await client.get("/openehr/v1/ehr", headers=service,
                         params={"subject_id": "x", "subject_namespace": "y"}),
    ]
    assert [a.status_code for a in answers] == [200, 200, 401, 200, 404]
    assert [a.headers.get("cache-control") for a in answers] == ["no-store"] * len(answers)


async def test_the_event_stream_is_not_stored(app: FastAPI) -> None:
    alice = await logged_in(app, "alice")
    async with (serve(app) as base, httpx.AsyncClient(base_url=base, timeout=10) as http,
                http.stream("GET", STREAM, headers=alice.headers) as response):
        assert response.status_code == 200
        assert response.headers.get_list("cache-control") == ["no-store"]


@pytest.fixture
async def production(database_url: str, tmp_path: Path) -> AsyncIterator[httpx.AsyncClient]:
    settings = make_settings(database_url, tmp_path, env="production", cookie_secure=True,
                             metrics_token=METRICS_TOKEN)
    prod = create_app(settings, clock=ManualClock())
    async with prod.router.lifespan_context(prod), httpx.AsyncClient(
            transport=httpx.ASGITransport(app=prod), base_url="https://testserver") as http:
        yield http


@pytest.mark.usefixtures("app")  # its teardown empties the shared database
async def test_production_metrics_need_the_bearer_token(production: httpx.AsyncClient) -> None:
    for headers in ({}, {"Authorization": "Bearer wrong"},
                    {"Authorization": f"Basic {METRICS_TOKEN}"},
                    {"Authorization": f"Bearer {METRICS_TOKEN}x"}):
        refused = await production.get("/metrics", headers=headers)
        assert refused.status_code == 401
        assert "quill_http_requests_total" not in refused.text
    allowed = await production.get("/metrics",
                                   headers={"Authorization": f"Bearer {METRICS_TOKEN}"})
    assert allowed.status_code == 200
    assert "quill_http_requests_total" in allowed.text


@pytest.mark.usefixtures("app")
async def test_production_without_a_metrics_token_serves_no_metrics(
    database_url: str, tmp_path: Path,
) -> None:
    settings = make_settings(database_url, tmp_path, env="production", cookie_secure=True)
    prod = create_app(settings, clock=ManualClock())
    async with prod.router.lifespan_context(prod), httpx.AsyncClient(
            transport=httpx.ASGITransport(app=prod), base_url="https://testserver") as http:
        assert (await http.get("/metrics")).status_code == 404
        assert (await http.get("/metrics", headers={"Authorization": "Bearer "})
                ).status_code == 404


async def test_development_metrics_stay_open(client: httpx.AsyncClient) -> None:
    assert (await client.get("/metrics")).status_code == 200
