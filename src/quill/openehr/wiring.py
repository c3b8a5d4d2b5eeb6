"""Choosing the CompositionStore: embedded by default, EHRbase when QUILL_EHRBASE_URL is set."""

from __future__ import annotations

from collections.abc import Callable

from sqlalchemy.ext.asyncio import AsyncSession

from quill.clock import Clock, IdSource
from quill.openehr.embedded import EmbeddedCompositionStore
from quill.openehr.http import EhrbaseCompositionStore, make_client
from quill.openehr.port import CompositionStore
from quill.settings import Settings

CompositionStoreFactory = Callable[[AsyncSession], CompositionStore]
"""Given the request's session, the store to use (the embedded one joins that session)."""


def embedded_factory(clock: Clock, ids: IdSource) -> CompositionStoreFactory:
    def factory(db: AsyncSession) -> CompositionStore:
        return EmbeddedCompositionStore(db, clock, ids)

    return factory


def external_factory(adapter: EhrbaseCompositionStore) -> CompositionStoreFactory:
    def factory(_db: AsyncSession) -> CompositionStore:
        return adapter

    return factory


def ehrbase_adapter(settings: Settings) -> EhrbaseCompositionStore:
    return EhrbaseCompositionStore(make_client(settings))
