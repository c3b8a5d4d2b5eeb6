"""Store latency: every FhirStore call observed in the ``store_latency`` histogram."""

from __future__ import annotations

import time
from collections.abc import AsyncIterator, Sequence
from contextlib import asynccontextmanager

from prometheus_client import Histogram
from sqlalchemy.ext.asyncio import AsyncSession

from quill.fhir.port import (
    FhirGateway,
    FhirStore,
    HistoryEntry,
    PatientLister,
    Resource,
    SearchPage,
    SearchParams,
    TransactionEntry,
    TransactionResult,
)


class TimedFhirStore:
    def __init__(self, inner: FhirStore, histogram: Histogram, store: str) -> None:
        self._inner = inner
        self._histogram = histogram
        self._store = store

    @asynccontextmanager
    async def _timed(self, operation: str) -> AsyncIterator[None]:
        started = time.perf_counter()
        try:
            yield
        finally:
            self._histogram.labels(self._store, operation).observe(
                time.perf_counter() - started)

    async def create(self, resource: Resource) -> Resource:
        async with self._timed("create"):
            return await self._inner.create(resource)

    async def read(self, resource_type: str, resource_id: str) -> Resource:
        async with self._timed("read"):
            return await self._inner.read(resource_type, resource_id)

    async def vread(self, resource_type: str, resource_id: str, version_id: str) -> Resource:
        async with self._timed("vread"):
            return await self._inner.vread(resource_type, resource_id, version_id)

    async def update(self, resource: Resource, *, expected_version: str | None = None
                     ) -> Resource:
        async with self._timed("update"):
            return await self._inner.update(resource, expected_version=expected_version)

    async def delete(self, resource_type: str, resource_id: str) -> None:
        async with self._timed("delete"):
            await self._inner.delete(resource_type, resource_id)

    async def search(self, resource_type: str, params: SearchParams | None = None, *,
                     count: int | None = None, cursor: str | None = None,
                     total: bool = True) -> SearchPage:
        async with self._timed("search"):
            return await self._inner.search(resource_type, params, count=count, cursor=cursor,
                                            total=total)

    async def history(self, resource_type: str, resource_id: str) -> list[HistoryEntry]:
        async with self._timed("history"):
            return await self._inner.history(resource_type, resource_id)

    async def transaction(self, entries: Sequence[TransactionEntry]
                          ) -> list[TransactionResult]:
        async with self._timed("transaction"):
            return await self._inner.transaction(entries)


class TimedFhirGateway:
    def __init__(self, inner: FhirGateway, histogram: Histogram) -> None:
        self._inner = inner
        self._histogram = histogram
        self.external = inner.external
        self._label = "fhir_http" if inner.external else "fhir_embedded"

    @property
    def inner(self) -> FhirGateway:
        return self._inner

    def store(self, db: AsyncSession) -> FhirStore:
        return TimedFhirStore(self._inner.store(db), self._histogram, self._label)

    def patient_lister(self, db: AsyncSession, store: FhirStore) -> PatientLister:
        return self._inner.patient_lister(db, store)

    async def ping(self) -> bool:
        return await self._inner.ping()

    async def aclose(self) -> None:
        await self._inner.aclose()
