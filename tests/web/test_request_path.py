"""What every request passes through before it reaches a route.

Routers are mounted flat (quill.web.routing) and FastAPI's OpenTelemetry hooks are off;
neither may change what a client sees.
"""

from __future__ import annotations

import httpx
import opentelemetry.trace
import pytest
from fastapi import FastAPI
from starlette.routing import Mount, Route

from quill.app import API_ROUTERS
from quill.facades.openehr import router as openehr_facade_router
from quill.health.router import metrics_router
from quill.settings import Settings
from quill.web.openapi import install_error_schema


def test_every_route_sits_in_the_apps_own_table(app: FastAPI) -> None:
    # An included router would be one entry holding a table of its own. The web app's
    # static files are the one mount: a leaf, last, so no route is matched after it.
    others = [r for r in app.routes if not isinstance(r, Route)]
    assert [(type(r), getattr(r, "path", None)) for r in others] == [(Mount, "/static")]
    assert app.routes[-1] is others[0]
    paths = {r.path for r in app.routes if isinstance(r, Route)}
    assert {"/api/auth/me", "/api/patients", "/api/conversations", "/metrics"} <= paths
    assert len(paths) >= sum(len(router.routes) for router in API_ROUTERS)


def test_flat_table_documents_the_same_api_as_included_routers(
    app: FastAPI, settings: Settings
) -> None:
    reference = FastAPI(title=app.title, version=app.version)
    install_error_schema(reference)
    for router in API_ROUTERS:
        reference.include_router(router)
    reference.include_router(metrics_router)
    if settings.openehr_facade_enabled and not settings.ehrbase_url:
        reference.include_router(openehr_facade_router)
    ours, theirs = app.openapi(), reference.openapi()
    assert ours["paths"] == theirs["paths"]
    assert ours["components"] == theirs["components"]
    assert len(ours["paths"]) > 40


async def _tracer_lookups(app: FastAPI, monkeypatch: pytest.MonkeyPatch) -> int:
    lookups = 0
    real = opentelemetry.trace.get_tracer_provider

    def counting() -> opentelemetry.trace.TracerProvider:
        nonlocal lookups
        lookups += 1
        return real()

    monkeypatch.setattr(opentelemetry.trace, "get_tracer_provider", counting)
    transport = httpx.ASGITransport(app=app)
    async with httpx.AsyncClient(transport=transport, base_url="http://testserver") as http:
        response = await http.get("/api/auth/me")
    assert response.status_code in {200, 401, 404}
    return lookups


async def test_fastapi_opentelemetry_hooks_stay_off(
    app: FastAPI, monkeypatch: pytest.MonkeyPatch
) -> None:
    # The probe works: a FastAPI app with default settings asks for the tracer provider.
    assert await _tracer_lookups(FastAPI(), monkeypatch) > 0
    assert await _tracer_lookups(app, monkeypatch) == 0
