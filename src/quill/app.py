"""The composition root: the only place that builds and wires Quill's parts."""

from __future__ import annotations

from collections.abc import AsyncIterator
from contextlib import asynccontextmanager

from fastapi import APIRouter, FastAPI
from fastapi.middleware.cors import CORSMiddleware

from quill.auth.router import router as auth_router
from quill.clock import Clock, IdSource
from quill.competencies.router import router as cbac_router
from quill.external_access.router import router as external_access_router
from quill.facades.fhir.router import public_router as fhir_public_router
from quill.facades.fhir.router import router as fhir_router
from quill.facades.openehr import router as openehr_facade_router
from quill.health.router import metrics_router
from quill.health.router import router as health_router
from quill.letters.router import router as letters_router
from quill.messaging.live_router import router as events_router
from quill.messaging.router import router as messaging_router
from quill.organisations.router import router as organisations_router
from quill.patients.router import router as patients_router
from quill.prescriptions.router import router as prescriptions_router
from quill.push.router import router as push_router
from quill.runtime import build_runtime
from quill.settings import Settings
from quill.users.router import router as users_router
from quill.web.body_limit import BodyLimitMiddleware
from quill.web.errors import install_error_handlers
from quill.web.observability import ObservabilityMiddleware
from quill.web.openapi import install_error_schema
from quill.web.routing import mount
from quill.web.shutdown import notice_on_exit_signals
from quill.webapp import install as install_webapp

# Routers under /api, in matching order (quill.web.routing: mounted flat on the app).
API_ROUTERS: tuple[APIRouter, ...] = (
    health_router, auth_router, patients_router, external_access_router, letters_router,
    prescriptions_router,
    # Before the messaging router: "/conversations/{id}" would otherwise capture "events".
    events_router, push_router, messaging_router, users_router, cbac_router,
    organisations_router,
)


def create_app(
    settings: Settings, *, clock: Clock | None = None, ids: IdSource | None = None
) -> FastAPI:
    settings.check_production_safety()
    runtime = build_runtime(settings, clock=clock, ids=ids)

    @asynccontextmanager
    async def lifespan(_app: FastAPI) -> AsyncIterator[None]:
        await runtime.start()
        try:
            with notice_on_exit_signals(runtime.shutdown):
                yield
        finally:
            await runtime.aclose()

    docs = not settings.is_production
    app = FastAPI(
        title="Quill",
        version="0.1.0",
        lifespan=lifespan,
        openapi_url="/api/openapi.json",
        docs_url="/api/docs" if docs else None,
        redoc_url="/api/redoc" if docs else None,
        # No OAuth2 flow in the docs UI; the default redirect page would sit outside /api.
        swagger_ui_oauth2_redirect_url=None,
        # Quill reports through /metrics and its JSON log lines. FastAPI's own OpenTelemetry
        # hooks would look up the global providers on every request to find none.
        telemetry={"tracing": False, "metrics": False, "logs": False},
    )
    # The runtime itself is for tests and tools; adapters ask the wiring for parts by class.
    app.state.runtime = runtime
    app.state.wiring = runtime.wiring()
    install_error_handlers(app)
    install_error_schema(app)
    for router in API_ROUTERS:
        mount(app, router)
    mount(app, metrics_router)
    if settings.openehr_facade_enabled and not settings.ehrbase_url:
        # The facade serves the embedded store; with EHRbase configured, use EHRbase itself.
        mount(app, openehr_facade_router)
    if settings.fhir_facade_enabled:
        mount(app, fhir_public_router)
        mount(app, fhir_router)
    # The pages last: their paths sit outside /api and the facades' prefixes.
    install_webapp(app)
    # Innermost middleware: a 413 still carries CORS headers, a request id and a log line.
    app.add_middleware(BodyLimitMiddleware, max_bytes=settings.max_body_bytes)
    if settings.cors_origins:
        app.add_middleware(
            CORSMiddleware, allow_origins=settings.cors_origins, allow_credentials=True,
            allow_methods=["GET", "POST", "PUT", "PATCH", "DELETE"],
            allow_headers=["Content-Type", "X-CSRF-Token", "If-Match", "Authorization"],
        )
    app.add_middleware(ObservabilityMiddleware, metrics=runtime.metrics,
                       secure=settings.secure_cookies)
    return app
