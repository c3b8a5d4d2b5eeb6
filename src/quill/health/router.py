"""Liveness and dependency status; says only whether each part answers."""

from __future__ import annotations

import asyncio
import hmac
import logging

from fastapi import APIRouter, Request
from fastapi.responses import JSONResponse, Response
from prometheus_client import CONTENT_TYPE_LATEST, generate_latest
from pydantic import BaseModel

from quill.errors import RETRY_AFTER_SECONDS, NotFound, Unauthenticated
from quill.events.shutdown import ShutdownNotice
from quill.health.probes import HealthProbe, HealthProbes
from quill.web.observability import Metrics
from quill.web.routing import api_router
from quill.web.wiring import platform_of, wiring_of

log = logging.getLogger("quill.health")
router = api_router(tags=["health"])
metrics_router = APIRouter(tags=["health"])

PROBE_TIMEOUT_SECONDS = 3.0


class ServiceStatus(BaseModel):
    available: bool


class HealthServices(BaseModel):
    auth_db: ServiceStatus
    fhir: ServiceStatus
    ehrbase: ServiceStatus


class HealthOut(BaseModel):
    status: str
    services: HealthServices


class ReadyServices(HealthServices):
    # Present only when QUILL_REDIS_URL is set.
    redis: ServiceStatus | None = None


class ReadyOut(BaseModel):
    status: str
    services: ReadyServices


class LiveOut(BaseModel):
    status: str


async def _probe(name: str, probes: HealthProbes | dict[str, HealthProbe]) -> bool:
    probe = probes.get(name)
    if probe is None:
        return False
    try:
        return await asyncio.wait_for(probe(), PROBE_TIMEOUT_SECONDS)
    except Exception:
        log.warning("health probe failed", extra={"probe": name}, exc_info=True)
        return False


@router.get("/health", response_model=HealthOut)
async def health(request: Request) -> HealthOut:
    probes = wiring_of(request).get(HealthProbes)
    names = ("auth_db", "fhir", "ehrbase")
    results = await asyncio.gather(*(_probe(name, probes) for name in names))
    status = {name: ServiceStatus(available=ok) for name, ok in zip(names, results, strict=True)}
    return HealthOut(
        status="healthy" if all(results) else "degraded",
        services=HealthServices(**status),
    )


@router.get("/health/live", response_model=LiveOut)
async def live() -> LiveOut:
    """The process answers; says nothing about its dependencies (that is /health/ready)."""
    return LiveOut(status="alive")


_READY_DOC: dict[int | str, dict[str, object]] = {
    503: {"description": "A dependency is unavailable; `services` says which",
          "model": ReadyOut},
}


@router.get("/health/ready", response_model=ReadyOut, responses=_READY_DOC)
async def ready(request: Request) -> Response:
    """Whether this worker can serve: every dependency answers, the database accepts a
    write and no graceful shutdown has begun. 503 (with Retry-After) otherwise, so a
    balancer routes around it."""
    probes = wiring_of(request).get(HealthProbes)
    readiness = probes.readiness()
    names = tuple(readiness)
    results = await asyncio.gather(*(_probe(name, readiness) for name in names))
    # A draining worker still answers its requests in flight but should get no new ones.
    draining = wiring_of(request).get(ShutdownNotice).begun
    body = ReadyOut(
        status="draining" if draining else "ready" if all(results) else "not_ready",
        services=ReadyServices(**{name: ServiceStatus(available=ok)
                                  for name, ok in zip(names, results, strict=True)}),
    )
    if all(results) and not draining:
        return JSONResponse(body.model_dump(exclude_none=True))
    return JSONResponse(body.model_dump(exclude_none=True), status_code=503,
                        headers={"Retry-After": str(RETRY_AFTER_SECONDS)})


def _check_metrics_access(request: Request) -> None:
    """Production serves /metrics only to ``Bearer <QUILL_METRICS_TOKEN>``; no token set
    means no /metrics at all. Development keeps it open for local scraping."""
    settings = platform_of(request).settings
    if not settings.is_production:
        return
    expected = settings.metrics_token
    if not expected:
        raise NotFound()
    scheme, _, supplied = request.headers.get("authorization", "").partition(" ")
    if scheme.lower() != "bearer" or not hmac.compare_digest(
            supplied.strip().encode(), expected.encode()):
        raise Unauthenticated(headers={"WWW-Authenticate": "Bearer"})


@metrics_router.get("/metrics", include_in_schema=False)
async def metrics(request: Request) -> Response:
    _check_metrics_access(request)
    registry = wiring_of(request).get(Metrics).registry
    return Response(generate_latest(registry), media_type=CONTENT_TYPE_LATEST)
