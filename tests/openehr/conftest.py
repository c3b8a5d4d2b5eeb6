"""Contract-suite fixtures: the embedded store, and the adapter talking to the facade."""

from __future__ import annotations

from collections.abc import AsyncIterator
from contextlib import asynccontextmanager
from pathlib import Path

import pytest
from fastapi import FastAPI

from quill.app import create_app
from quill.clock import ManualClock, UuidSource
from quill.openehr.embedded import EmbeddedCompositionStore
from quill.openehr.http import EhrbaseCompositionStore, make_client
from quill.openehr.port import CompositionStore
from tests.conftest import make_settings
from tests.helpers import runtime_of
from tests.openehr.server import SERVICE_TOKEN, served


@asynccontextmanager
async def facade_server(database_url: str, data_dir: Path, clock: ManualClock,
                        **overrides: object) -> AsyncIterator[str]:
    """A Quill with the openEHR facade and a service token, on a real socket.

    Use it beside the ``app`` fixture, whose teardown empties the shared database.
    """
    values: dict[str, object] = {"service_token": SERVICE_TOKEN,
                                 "openehr_facade_enabled": True}
    values.update(overrides)
    settings = make_settings(database_url, data_dir / "facade", **values)
    async with served(create_app(settings, clock=clock)) as url:
        yield url


def adapter_for(facade_url: str, database_url: str, data_dir: Path,
                **overrides: object) -> EhrbaseCompositionStore:
    values: dict[str, object] = {"ehrbase_url": f"{facade_url}/openehr/v1",
                                 "ehrbase_token": SERVICE_TOKEN}
    values.update(overrides)
    settings = make_settings(database_url, data_dir / "adapter", **values)
    return EhrbaseCompositionStore(make_client(settings))


@pytest.fixture
async def facade_url(app: FastAPI, database_url: str, tmp_path: Path,
                     clock: ManualClock) -> AsyncIterator[str]:
    async with facade_server(database_url, tmp_path, clock) as url:
        yield url


@pytest.fixture(params=["embedded", "ehrbase"])
async def store(request: pytest.FixtureRequest, app: FastAPI, database_url: str,
                tmp_path: Path, clock: ManualClock) -> AsyncIterator[CompositionStore]:
    if request.param == "embedded":
        runtime = runtime_of(app)
        async with runtime.session_factory() as db, db.begin():
            yield EmbeddedCompositionStore(db, clock, UuidSource())
        return
    async with facade_server(database_url, tmp_path, clock) as url:
        adapter = adapter_for(url, database_url, tmp_path)
        try:
            yield adapter
        finally:
            await adapter.client.aclose()
