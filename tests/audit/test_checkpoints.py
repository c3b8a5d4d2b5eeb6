"""Checkpoints are written by the running app: periodically while the chain grows, at
shutdown, to the append-only file and to the log; entries join the chain at commit."""

from __future__ import annotations

import asyncio
import json
import logging
from pathlib import Path

import pytest
from sqlalchemy import select
from sqlalchemy.ext.asyncio import AsyncSession, async_sessionmaker

from quill.audit.checkpoints import read_checkpoints
from quill.audit.models import AuditEvent
from quill.audit.service import Auditor
from quill.clock import ManualClock
from quill.db.session import unit_of_work
from quill.settings import Settings
from tests.audit.chains import KEY, verify_cli
from tests.conftest import make_settings, running_app
from tests.helpers import runtime_of


async def _audit(factory: async_sessionmaker[AsyncSession], clock: ManualClock,
                 action: str) -> None:
    async with unit_of_work(factory) as db:
        await Auditor(db, clock).record(action, "Test")


async def test_checkpoints_when_the_chain_grew_and_at_shutdown(
        settings: Settings, clock: ManualClock, caplog: pytest.LogCaptureFixture) -> None:
    path = settings.audit_checkpoint_file
    caplog.set_level(logging.INFO, logger="quill.audit")
    async with running_app(settings, clock) as app:
        runtime = runtime_of(app)
        assert await runtime.audit_checkpoints.checkpoint() is None  # nothing to pin yet
        await _audit(runtime.session_factory, clock, "first")
        point = await runtime.audit_checkpoints.checkpoint()
        assert point is not None
        assert point.seq == 1
        assert await runtime.audit_checkpoints.checkpoint() is None  # no new entries
        await _audit(runtime.session_factory, clock, "second")
        code, output = await asyncio.to_thread(verify_cli, settings.database_url, path)
        assert code == 0, output
    # The lifespan's end (Runtime.aclose) pinned the second entry.
    assert [p.seq for p in read_checkpoints(path, KEY)] == [1, 2]
    logged = [r.__dict__["audit_checkpoint"] for r in caplog.records
              if "audit_checkpoint" in r.__dict__]
    assert [line["seq"] for line in logged] == [1, 2]
    assert json.loads(path.read_text().splitlines()[0]) == logged[0]


async def test_a_restarted_worker_does_not_repeat_the_last_checkpoint(
        settings: Settings, clock: ManualClock) -> None:
    async with running_app(settings, clock) as app:
        await _audit(runtime_of(app).session_factory, clock, "only")
    first = settings.audit_checkpoint_file.read_text()
    again = make_settings(settings.database_url, settings.data_dir)
    async with running_app(again, clock) as app:
        assert await runtime_of(app).audit_checkpoints.checkpoint() is None
    assert settings.audit_checkpoint_file.read_text() == first


class _CheckpointLogged(logging.Handler):
    def __init__(self) -> None:
        super().__init__(logging.INFO)
        self.event = asyncio.Event()

    def emit(self, record: logging.LogRecord) -> None:
        if "audit_checkpoint" in record.__dict__:
            self.event.set()


async def test_periodic_checkpoints_follow_the_chain(
        database_url: str, tmp_path: Path, clock: ManualClock,
        caplog: pytest.LogCaptureFixture) -> None:
    caplog.set_level(logging.INFO, logger="quill.audit")
    path = tmp_path / "elsewhere" / "points.jsonl"
    settings = make_settings(database_url, tmp_path, audit_checkpoint_seconds=0.01,
                             audit_checkpoint_path=path)
    written = _CheckpointLogged()
    logging.getLogger("quill.audit").addHandler(written)
    try:
        async with running_app(settings, clock) as app:
            await _audit(runtime_of(app).session_factory, clock, "periodic")
            await written.event.wait()  # the background writer, not the shutdown one
            assert read_checkpoints(path, KEY)[0].seq == 1
    finally:
        logging.getLogger("quill.audit").removeHandler(written)


async def test_rolled_back_savepoint_drops_its_entries(settings: Settings,
                                                       clock: ManualClock) -> None:
    async with running_app(settings, clock) as app:
        factory = runtime_of(app).session_factory
        async with unit_of_work(factory) as db:
            auditor = Auditor(db, clock)
            await auditor.record("kept.before", "Test")
            try:
                async with db.begin_nested():
                    await auditor.record("dropped", "Test")
                    raise LookupError("undo the savepoint")
            except LookupError:
                pass
            async with db.begin_nested():
                await auditor.record("kept.released", "Test")
        async with factory() as db:
            actions = (await db.execute(select(AuditEvent.action).order_by(AuditEvent.seq))
                       ).scalars().all()
        assert actions == ["kept.before", "kept.released"]


async def test_a_unit_of_work_that_only_audits_still_commits(settings: Settings,
                                                             clock: ManualClock) -> None:
    async with running_app(settings, clock) as app:
        factory = runtime_of(app).session_factory
        async with unit_of_work(factory) as db:
            await Auditor(db, clock).record("alone", "Test")
        async with factory() as db:
            assert (await db.execute(select(AuditEvent.action))).scalars().all() == ["alone"]
