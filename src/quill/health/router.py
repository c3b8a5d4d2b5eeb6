"""Liveness and dependency status; says only whether each part answers."""

from __future__ import annotations

import asyncio
import hmac
import logging

from fastapi import APIRouter, Request
from fastapi.responses import Response
from prometheus_client import CONTENT_TYPE_LATEST, generate_latest
from pydantic import BaseModel

from quill.errors import NotFound, Unauthenticated
from quill.health.probes import HealthProbes
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


async def _probe(name: str, probes: HealthProbes) -> bool:
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
