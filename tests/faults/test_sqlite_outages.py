"""SQLite on a full or read-only disk: 503 with Retry-After, and nothing half-written."""

from __future__ import annotations

import asyncio
from pathlib import Path

import pytest
from fastapi import FastAPI

from quill.errors import ServiceUnavailable
from quill.migrations.run import upgrade
from tests.faults.apps import (
    assert_unavailable,
    count_rows,
    fault_app,
    http_client,
    warnings_naming,
)
from tests.helpers import make_user, runtime_of


async def _migrated(tmp_path: Path) -> Path:
    path = tmp_path / "quill.db"
    await asyncio.to_thread(upgrade, f"sqlite:///{path}")
    return path


async def _limit_pages(app: FastAPI, extra_pages: int) -> None:
    """Cap the database at its current size plus ``extra_pages``: SQLite then fails a
    write that needs a new page with "database or disk is full", as on a full disk.
    The cap holds for the app's one pooled connection, which every request uses."""
    async with runtime_of(app).engine.begin() as connection:
        pages = int((await connection.exec_driver_sql("PRAGMA page_count")).scalar_one())
        await connection.exec_driver_sql(f"PRAGMA max_page_count = {pages + extra_pages}")


async def _fill_users(app: FastAPI) -> None:
    """Add accounts until the disk is "full"; AssertionError if it never fills."""
    for number in range(2000):
        try:
            await make_user(app, f"filler{number}")
        except ServiceUnavailable:
            return
    raise AssertionError("the page cap never filled")


def _registration(name: str) -> dict[str, str]:
    return {"username": name, "email": f"{name}@example.org", "password": "a long passphrase"}


async def test_full_disk_answers_503_and_leaves_no_partial_rows(
    tmp_path: Path, caplog: pytest.LogCaptureFixture,
) -> None:
    path = await _migrated(tmp_path)
    async with fault_app(f"sqlite:///{path}", tmp_path) as app, http_client(app) as http:
        await _limit_pages(app, 1)
        # Fill the users table's pages, so the next account needs a page there is no room for.
        await _fill_users(app)
        factory = runtime_of(app).session_factory
        users, audit = await count_rows(factory, "users"), await count_rows(factory,
                                                                            "audit_events")
        response = await http.post("/api/auth/register", json=_registration("newcomer"))
        assert_unavailable(response)
        assert any("disk full" in line for line in warnings_naming(caplog, "database"))
        assert await count_rows(factory, "users") == users
        assert await count_rows(factory, "audit_events") == audit
        # Space again: the same request succeeds.
        await _limit_pages(app, 100_000)
        retried = await http.post("/api/auth/register", json=_registration("newcomer"))
        assert retried.status_code == 200, retried.text
        assert await count_rows(factory, "users") == users + 1


async def test_read_only_database_serves_reads_refuses_writes_and_is_not_ready(
    tmp_path: Path, caplog: pytest.LogCaptureFixture,
) -> None:
    path = await _migrated(tmp_path)
    read_only = f"sqlite:///file:{path}?mode=ro&uri=true"
    async with fault_app(read_only, tmp_path) as app, http_client(app) as http:
        response = await http.post("/api/auth/register", json=_registration("newcomer"))
        assert_unavailable(response)
        assert any("read-only" in line for line in warnings_naming(caplog, "database"))
        assert await count_rows(runtime_of(app).session_factory, "users") == 0
        ready = await http.get("/api/health/ready")
        assert ready.status_code == 503
        assert ready.json()["services"]["auth_db"] == {"available": False}
        assert "redis" not in ready.json()["services"]
        # Reads still work, so /api/health (which only reads) says the database answers.
        health = await http.get("/api/health")
        assert health.status_code == 200
        assert health.json()["services"]["auth_db"] == {"available": True}
        assert (await http.get("/api/health/live")).status_code == 200
