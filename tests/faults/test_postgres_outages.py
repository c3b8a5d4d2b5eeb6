"""A PostgreSQL server of the test's own, paused and stopped under a running app."""

from __future__ import annotations

import asyncio
import shutil
import tempfile
from collections.abc import AsyncIterator
from pathlib import Path

import pytest

from quill.migrations.run import upgrade
from tests.faults.apps import (
    GUARD_SECONDS,
    assert_unavailable,
    fault_app,
    http_client,
    warnings_naming,
)
from tests.faults.servers import PostgresServer, postgres_server
from tests.helpers import logged_in


@pytest.fixture(scope="module")
async def pg() -> AsyncIterator[PostgresServer]:
    # Not pytest's tmp_path: the postgres user must be able to reach the directory.
    root = Path(tempfile.mkdtemp(prefix="quill-faults-pg-"))
    try:
        with postgres_server(root) as server:
            await asyncio.to_thread(upgrade, server.url)
            yield server
    finally:
        shutil.rmtree(root, ignore_errors=True)


async def test_paused_database_answers_503_in_time_and_recovers(
    pg: PostgresServer, tmp_path: Path, caplog: pytest.LogCaptureFixture,
) -> None:
    async with fault_app(pg.url, tmp_path) as app, http_client(app) as http:
        alice = await logged_in(app, "alice")
        assert (await http.get("/api/auth/me", headers=alice.headers)).status_code == 200
        pg.pause()
        try:
            async with asyncio.timeout(GUARD_SECONDS):
                during = await http.get("/api/auth/me", headers=alice.headers)
        finally:
            pg.resume()
        assert_unavailable(during)
        # The database's own deadline answered (the request deadline is 20 s), and the
        # log names the database.
        assert warnings_naming(caplog, "database")
        assert not warnings_naming(caplog, "request")
        after = await http.get("/api/auth/me", headers=alice.headers)
        assert after.status_code == 200, after.text


async def test_stopped_database_answers_503_and_is_not_ready_until_it_is_back(
    pg: PostgresServer, tmp_path: Path,
) -> None:
    async with fault_app(pg.url, tmp_path) as app, http_client(app) as http:
        bob = await logged_in(app, "bob")
        pg.stop()
        try:
            async with asyncio.timeout(GUARD_SECONDS):
                during = await http.get("/api/auth/me", headers=bob.headers)
                ready = await http.get("/api/health/ready")
                health = await http.get("/api/health")
                live = await http.get("/api/health/live")
        finally:
            pg.start()
        assert_unavailable(during)
        assert ready.status_code == 503
        assert int(ready.headers["Retry-After"]) > 0
        assert ready.json() == {"status": "not_ready", "services": {
            "auth_db": {"available": False}, "fhir": {"available": False},
            "ehrbase": {"available": False}}}
        # /api/health keeps its shape and status code.
        assert health.status_code == 200
        assert health.json()["status"] == "degraded"
        assert set(health.json()["services"]) == {"auth_db", "fhir", "ehrbase"}
        assert live.status_code == 200
        # The pool's stale connections are replaced: the first request after the
        # restart already works.
        after = await http.get("/api/auth/me", headers=bob.headers)
        assert after.status_code == 200, after.text
        assert (await http.get("/api/health/ready")).status_code == 200


async def test_request_deadline_answers_when_the_database_deadlines_are_long(
    pg: PostgresServer, tmp_path: Path, caplog: pytest.LogCaptureFixture,
) -> None:
    async with fault_app(pg.url, tmp_path, db_connect_timeout_seconds=60.0,
                         db_statement_timeout_seconds=60.0, db_pool_timeout_seconds=60.0,
                         request_timeout_seconds=0.5) as app, http_client(app) as http:
        carol = await logged_in(app, "carol")
        pg.pause()
        try:
            async with asyncio.timeout(GUARD_SECONDS):
                during = await http.get("/api/auth/me", headers=carol.headers)
        finally:
            pg.resume()
        assert_unavailable(during)
        assert any("deadline" in line for line in warnings_naming(caplog, "request"))
        # The connection cut off mid-wait is not handed to the next request.
        async with asyncio.timeout(GUARD_SECONDS):
            after = await http.get("/api/auth/me", headers=carol.headers)
        assert after.status_code == 200, after.text
