"""The composition root: the only place that builds and wires Quill's parts."""

from __future__ import annotations

from collections.abc import AsyncIterator
from contextlib import asynccontextmanager

from fastapi import APIRouter, FastAPI
from fastapi.middleware.cors import CORSMiddleware
from sqlalchemy import text

from quill.auth.passwords import PasswordHasher
from quill.auth.ratelimit import RateLimiter
from quill.auth.router import router as auth_router
from quill.clock import Clock, IdSource, SystemClock, UuidSource
from quill.db.engine import make_engine, make_session_factory
from quill.email.factory import build_mailer
from quill.health.router import metrics_router
from quill.health.router import router as health_router
from quill.runtime import Runtime
from quill.settings import Settings
from quill.web.errors import install_error_handlers
from quill.web.observability import Metrics, ObservabilityMiddleware, RouteTemplates


def _build_runtime(settings: Settings, clock: Clock, ids: IdSource) -> Runtime:
    engine = make_engine(settings.database_url)
    session_factory = make_session_factory(engine)
    limiter = RateLimiter(settings)
    runtime = Runtime(
        settings=settings, clock=clock, ids=ids, engine=engine,
        session_factory=session_factory,
        secret_key=settings.resolved_secret_key(),
        passwords=PasswordHasher.from_settings(settings),
        mailer=build_mailer(settings, session_factory, clock),
        limiter=limiter,
    )
    runtime.shutdown_hooks.append(limiter.close)

    async def database_answers() -> bool:
        async with engine.connect() as connection:
            await connection.execute(text("SELECT 1"))
        return True

    runtime.health_probes["auth_db"] = database_answers
    # The embedded FHIR and openEHR stores live in the same database.
    runtime.health_probes.setdefault("fhir", database_answers)
    runtime.health_probes.setdefault("ehrbase", database_answers)
    return runtime


def _api_router() -> APIRouter:
    api = APIRouter(prefix="/api")
    api.include_router(health_router)
    api.include_router(auth_router)
    return api


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
    )
    app.state.runtime = runtime
    metrics = Metrics()
    app.state.metrics = metrics
    install_error_handlers(app)
    app.include_router(_api_router())
    app.include_router(metrics_router)
    if settings.cors_origins:
        app.add_middleware(
            CORSMiddleware, allow_origins=settings.cors_origins, allow_credentials=True,
            allow_methods=["GET", "POST", "PUT", "PATCH", "DELETE"],
            allow_headers=["Content-Type", "X-CSRF-Token", "If-Match", "Authorization"],
        )
    templates = RouteTemplates(lambda: [*app.openapi().get("paths", {}), "/metrics"])
    app.add_middleware(ObservabilityMiddleware, metrics=metrics,
                       secure=settings.secure_cookies, templates=templates)
    return app
