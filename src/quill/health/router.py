"""Liveness and dependency status; says only whether each part answers."""

from __future__ import annotations

import asyncio
import logging

from fastapi import APIRouter, Request
from fastapi.responses import Response
from prometheus_client import CONTENT_TYPE_LATEST, generate_latest
from pydantic import BaseModel

from quill.web.deps import RuntimeDep
from quill.web.routing import api_router

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


async def _probe(name: str, runtime: RuntimeDep) -> bool:
    probe = runtime.health_probes.get(name)
    if probe is None:
        return False
    try:
        return await asyncio.wait_for(probe(), PROBE_TIMEOUT_SECONDS)
    except Exception:
        log.warning("health probe failed", extra={"probe": name}, exc_info=True)
        return False


@router.get("/health", response_model=HealthOut)
async def health(runtime: RuntimeDep) -> HealthOut:
    names = ("auth_db", "fhir", "ehrbase")
    results = await asyncio.gather(*(_probe(name, runtime) for name in names))
    status = {name: ServiceStatus(available=ok) for name, ok in zip(names, results, strict=True)}
    return HealthOut(
        status="healthy" if all(results) else "degraded",
        services=HealthServices(**status),
    )


@metrics_router.get("/metrics", include_in_schema=False)
async def metrics(request: Request) -> Response:
    registry = request.app.state.metrics.registry
    return Response(generate_latest(registry), media_type=CONTENT_TYPE_LATEST)
