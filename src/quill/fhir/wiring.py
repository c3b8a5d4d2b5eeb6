"""Choosing the FHIR store from settings: embedded by default, HTTP when QUILL_FHIR_URL is set."""

from __future__ import annotations

from sqlalchemy.ext.asyncio import AsyncSession, async_sessionmaker

from quill.clock import Clock, IdSource
from quill.fhir.embedded import EmbeddedFhirGateway
from quill.fhir.http import HttpFhirGateway, HttpFhirStore
from quill.fhir.port import FhirGateway
from quill.settings import Settings


def build_fhir_gateway(settings: Settings, clock: Clock, ids: IdSource,
                       session_factory: async_sessionmaker[AsyncSession]) -> FhirGateway:
    if settings.fhir_url:
        return HttpFhirGateway(HttpFhirStore(
            settings.fhir_url, token=settings.fhir_token,
            timeout_seconds=settings.outbound_timeout_seconds))
    return EmbeddedFhirGateway(clock, ids, session_factory)
