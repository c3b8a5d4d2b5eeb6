"""FHIR fixtures: the app with its facade and a service token, the facade served over a
real loopback socket by uvicorn, and the store under test (embedded or HTTP)."""

from __future__ import annotations

import asyncio
from collections.abc import AsyncIterator, Sequence
from pathlib import Path

import pytest
import uvicorn
from fastapi import FastAPI
from sqlalchemy.ext.asyncio import AsyncSession

from quill.db.session import unit_of_work
from quill.fhir.http import HttpFhirStore
from quill.fhir.port import (
    FhirStore,
    HistoryEntry,
    Resource,
    SearchPage,
    SearchParams,
    TransactionEntry,
    TransactionResult,
)
from quill.runtime import Runtime
from quill.settings import Settings
from tests.conftest import make_settings

SERVICE_TOKEN = "fhir-test-service-token-0123456789abcdef"


@pytest.fixture
def settings(database_url: str, tmp_path: Path) -> Settings:
    return make_settings(database_url, tmp_path, service_token=SERVICE_TOKEN,
                         fhir_facade_enabled=True)


class CommittingStore:
    """The embedded store as a caller sees it across requests: one committed unit of
    work per call (the embedded store itself never commits)."""

    def __init__(self, runtime: Runtime) -> None:
        self._runtime = runtime

    def _store(self, db: AsyncSession) -> FhirStore:
        return self._runtime.fhir.store(db)

    async def create(self, resource: Resource) -> Resource:
        async with unit_of_work(self._runtime.session_factory) as db:
            return await self._store(db).create(resource)

    async def read(self, resource_type: str, resource_id: str) -> Resource:
        async with unit_of_work(self._runtime.session_factory) as db:
            return await self._store(db).read(resource_type, resource_id)

    async def vread(self, resource_type: str, resource_id: str, version_id: str) -> Resource:
        async with unit_of_work(self._runtime.session_factory) as db:
            return await self._store(db).vread(resource_type, resource_id, version_id)

    async def update(self, resource: Resource, *, expected_version: str | None = None
                     ) -> Resource:
        async with unit_of_work(self._runtime.session_factory) as db:
            return await self._store(db).update(resource, expected_version=expected_version)

    async def delete(self, resource_type: str, resource_id: str) -> None:
        async with unit_of_work(self._runtime.session_factory) as db:
            await self._store(db).delete(resource_type, resource_id)

    async def search(self, resource_type: str, params: SearchParams | None = None, *,
                     count: int | None = None, cursor: str | None = None,
                     total: bool = True) -> SearchPage:
        async with unit_of_work(self._runtime.session_factory) as db:
            return await self._store(db).search(resource_type, params, count=count,
                                                cursor=cursor, total=total)

    async def history(self, resource_type: str, resource_id: str) -> list[HistoryEntry]:
        async with unit_of_work(self._runtime.session_factory) as db:
            return await self._store(db).history(resource_type, resource_id)

    async def transaction(self, entries: Sequence[TransactionEntry]
                          ) -> list[TransactionResult]:
        async with unit_of_work(self._runtime.session_factory) as db:
            return await self._store(db).transaction(entries)


async def serve(app: FastAPI) -> tuple[uvicorn.Server, asyncio.Task[None], str]:
    """Serve the app on a free loopback port in this event loop; returns its origin."""
    config = uvicorn.Config(app, host="127.0.0.1", port=0, lifespan="off",
                            log_level="warning", access_log=False)
    server = uvicorn.Server(config)
    task = asyncio.create_task(server.serve())
    while not server.started:
        if task.done():
            task.result()
        await asyncio.sleep(0.01)
    port = server.servers[0].sockets[0].getsockname()[1]
    return server, task, f"http://127.0.0.1:{port}"


async def stop(server: uvicorn.Server, task: asyncio.Task[None]) -> None:
    server.should_exit = True
    await task


@pytest.fixture
async def facade_url(app: FastAPI) -> AsyncIterator[str]:
    server, task, origin = await serve(app)
    try:
        yield f"{origin}/fhir"
    finally:
        await stop(server, task)


@pytest.fixture(params=["embedded", "http"])
async def store(request: pytest.FixtureRequest, app: FastAPI) -> AsyncIterator[FhirStore]:
    runtime: Runtime = app.state.runtime
    if request.param == "embedded":
        yield CommittingStore(runtime)
        return
    server, task, origin = await serve(app)
    http = HttpFhirStore(f"{origin}/fhir", token=SERVICE_TOKEN, timeout_seconds=10)
    try:
        yield http
    finally:
        await http.aclose()
        await stop(server, task)
