"""Audited requests do not wait for one another: the chain's head is locked only while a
transaction commits, never for the rest of a request (PostgreSQL; SQLite serialises all
writers by design), and for as few statements as it takes."""

from __future__ import annotations

import asyncio

import httpx
import pytest
from fastapi import FastAPI
from sqlalchemy import select, text

from quill.audit.models import AuditEvent
from quill.audit.verify import verify_chain
from quill.web.deps import RequestAuditorDep
from tests.audit.chains import KEY
from tests.helpers import runtime_of
from tests.statements import count_statements


async def _blocked_on_a_lock(app: FastAPI) -> bool:
    """Whether any other backend of this database waits for a lock right now."""
    async with runtime_of(app).engine.connect() as connection:
        waiting = await connection.execute(text(
            "SELECT count(*) FROM pg_stat_activity WHERE datname = current_database() "
            "AND wait_event_type = 'Lock' AND pid <> pg_backend_pid()"))
        return bool(waiting.scalar())


async def test_a_slow_audited_request_does_not_hold_up_another(
        app: FastAPI, client: httpx.AsyncClient, database_url: str) -> None:
    if not database_url.startswith("postgresql"):
        pytest.skip("SQLite serialises every writer by design (one write lock)")
    audited, release = asyncio.Event(), asyncio.Event()

    async def slow(auditor: RequestAuditorDep) -> dict[str, str]:
        await auditor.record("test.slow", "Test")
        audited.set()
        await release.wait()  # held open after its audit call, transaction still open
        return {}

    async def quick(auditor: RequestAuditorDep) -> dict[str, str]:
        await auditor.record("test.quick", "Test")
        return {}

    app.add_api_route("/test/slow", slow)
    app.add_api_route("/test/quick", quick)
    first = asyncio.create_task(client.get("/test/slow"))
    await audited.wait()
    second = asyncio.create_task(client.get("/test/quick"))
    # The second request must finish while the first is held; waiting on a lock instead
    # is the serialisation this test forbids.
    while not second.done():
        assert not await _blocked_on_a_lock(app), "an audited request waited for another"
        await asyncio.sleep(0.01)
    assert (await second).status_code == 200
    assert not first.done()
    release.set()
    assert (await first).status_code == 200
    async with runtime_of(app).session_factory() as db:
        order = (await db.execute(select(AuditEvent.action).order_by(AuditEvent.seq))
                 ).scalars().all()
        assert order == ["test.quick", "test.slow"]  # chained in commit order
        assert (await verify_chain(db, KEY)).ok


async def test_appending_one_entry_sends_the_fewest_statements(
        app: FastAPI, client: httpx.AsyncClient, database_url: str) -> None:
    async def audited(auditor: RequestAuditorDep) -> dict[str, str]:
        await auditor.record("test.read", "Test")
        return {}

    app.add_api_route("/test/audited", audited)
    assert (await client.get("/test/audited")).status_code == 200  # the head row exists now
    with count_statements(runtime_of(app).engine) as statements:
        assert (await client.get("/test/audited")).status_code == 200
    shapes = [" ".join(s.split()[:3]) for s in statements if not s.startswith("COMMIT")]
    if database_url.startswith("postgresql"):
        # The head is locked, then moved inside the entry's INSERT.
        assert shapes == ["SELECT audit_head.seq, audit_head.hash", "WITH moved_head AS"]
    else:
        assert shapes == ["SELECT audit_head.seq, audit_head.hash", "INSERT INTO audit_events",
                          "UPDATE audit_head SET"]
    async with runtime_of(app).session_factory() as db:
        assert (await verify_chain(db, KEY)).ok
        head = (await db.execute(text("SELECT seq FROM audit_head"))).scalar_one()
        newest = (await db.execute(select(AuditEvent.seq).order_by(AuditEvent.seq.desc())
                                   .limit(1))).scalar_one()
        assert head == newest == 2
