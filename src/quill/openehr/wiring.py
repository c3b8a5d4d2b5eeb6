"""Choosing the openEHR store: embedded by default, EHRbase when QUILL_EHRBASE_URL is set."""

from __future__ import annotations

from sqlalchemy.ext.asyncio import AsyncSession, async_sessionmaker

from quill.clock import Clock, IdSource
from quill.openehr.embedded import EmbeddedCompositionGateway
from quill.openehr.http import EhrbaseCompositionGateway, EhrbaseCompositionStore, make_client
from quill.openehr.port import CompositionGateway
from quill.settings import Settings


def build_composition_gateway(settings: Settings, clock: Clock, ids: IdSource,
                              session_factory: async_sessionmaker[AsyncSession]
                              ) -> CompositionGateway:
    if settings.ehrbase_url:
        return EhrbaseCompositionGateway(EhrbaseCompositionStore(make_client(settings)))
    return EmbeddedCompositionGateway(clock, ids, session_factory)
