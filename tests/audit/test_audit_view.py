"""The audit-log service behind /api/audit and the admin audit page: a bounded check of
the newest entries (the same checks as verify-audit), and the entry listing."""

from __future__ import annotations

from pathlib import Path

import httpx
import pytest
from fastapi import FastAPI
from sqlalchemy import update

from quill.audit.checkpoints import Checkpoint, recent_marks
from quill.audit.models import AuditEvent
from quill.audit.service import Auditor
from quill.auditlog.service import AuditLogService, ChainState
from quill.errors import Forbidden
from quill.identity.caller import Caller
from tests.conftest import TEST_AUDIT_KEY
from tests.helpers import bearer_headers, make_user, runtime_of

KEY = TEST_AUDIT_KEY.encode()


async def _chain(app: FastAPI, entries: int) -> None:
    runtime = runtime_of(app)
    for number in range(entries):
        async with runtime.session_factory() as db, db.begin():
            await Auditor(db, runtime.clock).record("test.entry", "Test", str(number))


async def _caller(app: FastAPI, level: str) -> Caller:
    return Caller.of(await make_user(app, f"{level}-viewer", level=level,
                                     profession="patient"))


async def _state(app: FastAPI, caller: Caller, window: int, path: Path) -> ChainState:
    """One look, in a session of its own (SQLite's pool has one connection)."""
    runtime = runtime_of(app)
    async with runtime.session_factory() as db:
        service = AuditLogService(db=db, caller=caller, auditor=Auditor(db, runtime.clock),
                                  key=KEY, checkpoint_path=path, window=window)
        return await service.chain_state()


async def _tamper(app: FastAPI, seq: int) -> None:
    async with runtime_of(app).session_factory() as db, db.begin():
        await db.execute(update(AuditEvent).where(AuditEvent.seq == seq).values(action="x"))


async def test_the_window_checks_only_the_newest_entries(app: FastAPI, tmp_path: Path
                                                         ) -> None:
    admin = await _caller(app, "admin")
    await _chain(app, 8)
    path = tmp_path / "points.jsonl"
    state = await _state(app, admin, 3, path)
    last = state.last_seq
    assert (state.result.ok, state.result.first_seq) == (True, last - 2)
    assert state.latest_checkpoint is None
    await _tamper(app, last - 5)
    # Below the window: only the full walk (verify-audit) can see it.
    assert (await _state(app, admin, 3, path)).result.ok
    await _tamper(app, last - 1)
    broken = (await _state(app, admin, 3, path)).result
    assert (broken.first_bad_seq, broken.checked) == (last - 1, 1)
    assert (await _state(app, admin, 100, path)).result.first_bad_seq == last - 5


async def test_a_checkpoint_past_the_head_means_a_cut_chain(app: FastAPI, tmp_path: Path
                                                             ) -> None:
    admin = await _caller(app, "admin")
    await _chain(app, 4)
    path = tmp_path / "points.jsonl"
    past_the_head = Checkpoint(99, "0" * 64, "2026-11-30T12:00:00+00:00")
    path.write_text("not a line\n" + past_the_head.line(KEY) + "\n")
    assert [p.seq for p in recent_marks(path, KEY)] == [99]
    state = await _state(app, admin, 100, path)
    assert not state.result.ok
    assert state.result.reason == "missing: a checkpoint names entry 99"
    assert state.latest_checkpoint is not None
    assert state.latest_checkpoint.seq == 99


async def test_only_admins_read_it(app: FastAPI, tmp_path: Path) -> None:
    staff = await _caller(app, "staff")
    with pytest.raises(Forbidden):
        await _state(app, staff, 10, tmp_path / "none.jsonl")
    runtime = runtime_of(app)
    async with runtime.session_factory() as db:
        service = AuditLogService(db=db, caller=staff, auditor=Auditor(db, runtime.clock),
                                  key=KEY, checkpoint_path=tmp_path / "none.jsonl")
        with pytest.raises(Forbidden):
            await service.entries(actor_id=None, patient_id=None, limit=5, cursor=None)


async def test_the_api_lists_entries_newest_first_with_a_cursor(app: FastAPI) -> None:
    await _chain(app, 5)
    admin = await make_user(app, "auditor", level="admin", profession="system_administrator")
    headers = await bearer_headers(app, admin)
    async with httpx.AsyncClient(transport=httpx.ASGITransport(app=app),
                                 base_url="http://testserver", headers=headers) as http:
        first = (await http.get("/api/audit/entries", params={"limit": 3})).json()
        seqs = [e["seq"] for e in first["entries"]]
        assert seqs == sorted(seqs, reverse=True)
        assert len(seqs) == 3
        rest = (await http.get("/api/audit/entries", params={
            "limit": 50, "cursor": first["next_cursor"]})).json()
        assert rest["entries"][0]["seq"] == seqs[-1] - 1
        state = (await http.get("/api/audit/state")).json()
        assert state["ok"] is True
        assert state["first_seq"] == 1
        assert state["last_seq"] >= 5
