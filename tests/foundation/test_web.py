"""Health, request ids, security headers, errors and metrics."""

from __future__ import annotations

import logging

import httpx
import pytest
from fastapi import FastAPI
from pydantic import BaseModel, ConfigDict

from quill.errors import NotFound
from quill.health.probes import HealthProbes
from quill.web.observability import Metrics
from tests.helpers import bearer_headers, make_user


class Body(BaseModel):
    model_config = ConfigDict(extra="forbid")
    count: int


async def test_health_reports_each_service(client: httpx.AsyncClient) -> None:
    response = await client.get("/api/health")
    assert response.status_code == 200
    body = response.json()
    assert body["status"] == "healthy"
    assert set(body["services"]) == {"auth_db", "fhir", "ehrbase"}
    assert all(service["available"] is True for service in body["services"].values())


async def test_health_degraded_when_a_probe_fails(app: FastAPI, client: httpx.AsyncClient) -> None:
    async def broken() -> bool:
        raise ConnectionError("password=hunter2 at db.internal")

    app.state.wiring.get(HealthProbes).probes["fhir"] = broken
    response = await client.get("/api/health")
    assert response.status_code == 200
    assert response.json()["status"] == "degraded"
    assert response.json()["services"]["fhir"] == {"available": False}
    assert "hunter2" not in response.text


async def test_request_id_is_echoed_or_generated(client: httpx.AsyncClient) -> None:
    echoed = await client.get("/api/health", headers={"X-Request-ID": "abc12345-test"})
    assert echoed.headers["x-request-id"] == "abc12345-test"
    generated = await client.get("/api/health", headers={"X-Request-ID": "bad id\twith tab"})
    assert generated.headers["x-request-id"] != "bad id\twith tab"
    assert len(generated.headers["x-request-id"]) == 36


async def test_security_headers_present(client: httpx.AsyncClient) -> None:
    response = await client.get("/api/health")
    assert response.headers["x-content-type-options"] == "nosniff"
    assert response.headers["x-frame-options"] == "DENY"
    assert response.headers["referrer-policy"] == "no-referrer"
    assert "strict-transport-security" not in response.headers


async def test_unhandled_error_is_a_bare_500(
    app: FastAPI, client: httpx.AsyncClient, caplog: pytest.LogCaptureFixture
) -> None:
    @app.get("/api/test-explode")
    async def explode() -> None:
        raise RuntimeError("secret internals: connection string postgres://u:p@h")

    with caplog.at_level(logging.ERROR, logger="quill.request"):
        response = await client.get("/api/test-explode")
    assert response.status_code == 500
    body = response.json()
    assert body == {"detail": "Internal server error", "request_id": body["request_id"]}
    assert body["request_id"] == response.headers["x-request-id"]
    assert "secret internals" not in response.text
    logged = [r for r in caplog.records if r.exc_info]
    assert logged, "the traceback must be logged"
    assert "secret internals" in str(logged[0].exc_info[1])  # type: ignore[index]


async def test_domain_error_maps_to_status(app: FastAPI, client: httpx.AsyncClient) -> None:
    @app.get("/api/test-missing")
    async def missing() -> None:
        raise NotFound("Patient not found")

    response = await client.get("/api/test-missing")
    assert response.status_code == 404
    assert response.json() == {"detail": "Patient not found"}


async def test_validation_error_names_the_field(app: FastAPI, client: httpx.AsyncClient) -> None:
    @app.post("/api/test-validate")
    async def validate(body: Body) -> dict[str, int]:
        return {"count": body.count}

    response = await client.post("/api/test-validate", json={"count": "many"})
    assert response.status_code == 422
    locations = [error["loc"] for error in response.json()["detail"]]
    assert ["body", "count"] in locations


async def test_metrics_count_requests_by_route_template(client: httpx.AsyncClient) -> None:
    await client.get("/api/health")
    response = await client.get("/metrics")
    assert response.status_code == 200
    assert 'route="/api/health"' in response.text
    assert "quill_http_request_duration_seconds_bucket" in response.text


async def test_openapi_and_docs_served(client: httpx.AsyncClient) -> None:
    assert (await client.get("/api/openapi.json")).status_code == 200
    assert (await client.get("/api/docs")).status_code == 200


async def test_metrics_label_requests_by_template_not_by_path(
    client: httpx.AsyncClient,
) -> None:
    # Unauthenticated: routing has picked the route before the 401, so it still counts.
    for patient in ("p1", "p2", "p3"):
        assert (await client.get(f"/api/patients/{patient}")).status_code == 401
    assert (await client.get("/nowhere/p1")).status_code == 404
    text = (await client.get("/metrics")).text
    assert 'route="/api/patients/{patient_id}",status="401"} 3.0' in text
    assert 'route="unmatched",status="404"} 1.0' in text
    assert "p1" not in text


def test_request_metrics_keep_one_series_per_label_set() -> None:
    metrics = Metrics()
    for _ in range(3):
        metrics.observe_request("GET", "/api/auth/me", "200", 0.002)
    metrics.observe_request("GET", "/api/auth/me", "401", 0.001)
    count = metrics.registry.get_sample_value(
        "quill_http_requests_total", {"method": "GET", "route": "/api/auth/me", "status": "200"})
    latency = metrics.registry.get_sample_value(
        "quill_http_request_duration_seconds_count",
        {"method": "GET", "route": "/api/auth/me"})
    assert count == 3
    assert latency == 4


async def test_request_log_line_names_route_status_caller_and_request_id(
    app: FastAPI, client: httpx.AsyncClient, caplog: pytest.LogCaptureFixture
) -> None:
    user = await make_user(app, "log.reader")
    headers = await bearer_headers(app, user)
    caplog.set_level(logging.INFO, logger="quill.request")
    response = await client.get("/api/auth/me", headers=headers)
    assert response.status_code == 200
    lines = [r for r in caplog.records if r.name == "quill.request"]
    assert len(lines) == 1
    fields = lines[0].__dict__
    assert fields["route"] == "/api/auth/me"
    assert fields["status"] == 200
    assert fields["user_id"] == user.id
    assert fields["request_id"] == response.headers["x-request-id"]
