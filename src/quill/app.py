"""The composition root: the only place that builds and wires Quill's parts."""

from __future__ import annotations

from collections.abc import AsyncIterator
from contextlib import asynccontextmanager

from fastapi import APIRouter, FastAPI
from fastapi.middleware.cors import CORSMiddleware
from sqlalchemy import text

from quill.access.router import router as cbac_router
from quill.auth.caller_cache import CallerCache
from quill.auth.passwords import PasswordHasher
from quill.auth.ratelimit import RateLimiter
from quill.auth.router import router as auth_router
from quill.clock import Clock, IdSource, SystemClock, UuidSource
from quill.db.engine import make_engine, make_session_factory
from quill.email.factory import build_mailer
from quill.events.bus import EventBus, InProcessEventBus
from quill.events.redis_bus import RedisEventBus
from quill.events.router import router as events_router
from quill.external_access.router import router as external_access_router
from quill.fhir.router import router as fhir_router
from quill.fhir.timing import TimedFhirGateway
from quill.fhir.wiring import build_fhir_gateway
from quill.health.router import metrics_router
from quill.health.router import router as health_router
from quill.letters.router import router as letters_router
from quill.messaging.router import router as messaging_router
from quill.openehr.facade import router as openehr_facade_router
from quill.openehr.wiring import ehrbase_adapter, embedded_factory, external_factory
from quill.organisations.router import router as organisations_router
from quill.patients.router import router as patients_router
from quill.prescriptions.router import router as prescriptions_router
from quill.push.keys import load_vapid_keys
from quill.push.notifier import PushNotifier
from quill.push.router import router as push_router
from quill.runtime import HealthProbe, Runtime
from quill.settings import Settings
from quill.users.router import router as users_router
from quill.web.errors import install_error_handlers
from quill.web.observability import Metrics, ObservabilityMiddleware
from quill.web.routing import mount


def _event_bus(settings: Settings) -> EventBus:
    if settings.redis_url:
        return RedisEventBus(settings.redis_url, prefix=settings.redis_prefix)
    return InProcessEventBus()


def _build_runtime(settings: Settings, clock: Clock, ids: IdSource) -> Runtime:
    engine = make_engine(settings.database_url)
    session_factory = make_session_factory(engine)
    fhir = build_fhir_gateway(settings, clock, ids, session_factory)
    limiter = RateLimiter(settings)
    callers = CallerCache.for_data_dir(settings.data_dir, settings.caller_cache_seconds)
    callers.watch(session_factory)
    runtime = Runtime(
        settings=settings, clock=clock, ids=ids, engine=engine,
        session_factory=session_factory,
        secret_key=settings.resolved_secret_key(),
        passwords=PasswordHasher.from_settings(settings),
        mailer=build_mailer(settings, session_factory, clock),
        limiter=limiter,
        events=_event_bus(settings),
        push=PushNotifier(
            session_factory=session_factory, keys=load_vapid_keys(settings),
            subject=settings.vapid_subject, clock=clock,
            production=settings.is_production,
            timeout_seconds=settings.outbound_timeout_seconds,
        ),
        fhir=fhir,
        callers=callers,
    )
    runtime.shutdown_hooks.append(runtime.events.close)
    runtime.shutdown_hooks.append(runtime.push.close)
    runtime.shutdown_hooks.append(limiter.close)

    async def release_in_process_resources() -> None:
        callers.close()
        runtime.passwords.close()

    runtime.shutdown_hooks.append(release_in_process_resources)

    async def database_answers() -> bool:
        async with engine.connect() as connection:
            await connection.execute(text("SELECT 1"))
        return True

    runtime.health_probes["auth_db"] = database_answers
    # The embedded store answers when the database does; an external one via its /metadata.
    runtime.health_probes["fhir"] = fhir.ping
    runtime.shutdown_hooks.append(fhir.aclose)
    _wire_openehr(runtime, database_answers)
    return runtime


def _wire_openehr(runtime: Runtime, database_answers: HealthProbe) -> None:
    settings = runtime.settings
    if not settings.ehrbase_url:
        runtime.compositions = embedded_factory(runtime.clock, runtime.ids)
        runtime.health_probes["ehrbase"] = database_answers
        return
    adapter = ehrbase_adapter(settings)
    runtime.compositions = external_factory(adapter)
    runtime.health_probes["ehrbase"] = adapter.available
    runtime.shutdown_hooks.append(adapter.client.aclose)


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
    runtime = _build_runtime(settings, clock or SystemClock(), ids or UuidSource())

    @asynccontextmanager
    async def lifespan(_app: FastAPI) -> AsyncIterator[None]:
        try:
            yield
        finally:
            for hook in reversed(runtime.shutdown_hooks):
                await hook()
            await runtime.engine.dispose()

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
    app.state.runtime = runtime
    metrics = Metrics()
    app.state.metrics = metrics
    runtime.fhir = TimedFhirGateway(runtime.fhir, metrics.store_latency)
    install_error_handlers(app)
    for router in API_ROUTERS:
        mount(app, router)
    mount(app, metrics_router)
    if settings.openehr_facade_enabled and not settings.ehrbase_url:
        # The facade serves the embedded store; with EHRbase configured, use EHRbase itself.
        mount(app, openehr_facade_router)
    if settings.fhir_facade_enabled:
        mount(app, fhir_router)
    if settings.cors_origins:
        app.add_middleware(
            CORSMiddleware, allow_origins=settings.cors_origins, allow_credentials=True,
            allow_methods=["GET", "POST", "PUT", "PATCH", "DELETE"],
            allow_headers=["Content-Type", "X-CSRF-Token", "If-Match", "Authorization"],
        )
    app.add_middleware(ObservabilityMiddleware, metrics=metrics,
                       secure=settings.secure_cookies)
    return app
