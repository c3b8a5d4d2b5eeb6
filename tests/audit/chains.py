"""Writing, tampering with and verifying audit chains in tests, as an attacker with write
access to the database (but not the audit key) would."""

from __future__ import annotations

from pathlib import Path

from sqlalchemy import delete, select, update
from typer.testing import CliRunner

from quill.audit.chain import entry_hash, entry_of, install_chain
from quill.audit.checkpoints import AuditCheckpointer, Checkpoint
from quill.audit.models import AuditEvent, AuditHead
from quill.audit.service import AuditEntry, record
from quill.cli import cli
from quill.clock import ManualClock
from quill.db.engine import make_engine, make_session_factory
from tests.conftest import TEST_AUDIT_KEY

KEY = TEST_AUDIT_KEY.encode()
# What an attacker without the key signs with.
GUESSED_KEY = b"not-the-audit-key"


async def write_entries(url: str, clock: ManualClock, count: int, first: int = 1) -> None:
    engine = make_engine(url)
    try:
        factory = make_session_factory(engine)
        install_chain(factory, KEY)
        for index in range(first, first + count):
            async with factory() as db, db.begin():
                await record(db, clock, AuditEntry(
                    action="patient.read", resource_type="Patient", resource_id=f"p{index}",
                    patient_id=f"p{index}", actor_id=1, request_id=f"req-{index}"))
            clock.advance(seconds=1)
    finally:
        await engine.dispose()


async def take_checkpoint(url: str, path: Path, clock: ManualClock) -> Checkpoint | None:
    engine = make_engine(url)
    try:
        writer = AuditCheckpointer(make_session_factory(engine), KEY, path, clock, 60)
        return await writer.checkpoint()
    finally:
        await engine.dispose()


async def rewrite_from(url: str, seq: int, key: bytes = GUESSED_KEY, **changes: object) -> None:
    """Change entry ``seq`` (if ``changes``), then recompute every hash from it on with
    ``key`` and move the head to the end, as a careful forger would."""
    engine = make_engine(url)
    try:
        async with make_session_factory(engine)() as db, db.begin():
            if changes:
                await db.execute(update(AuditEvent).where(AuditEvent.seq == seq)
                                 .values(**changes))
            events = (await db.execute(select(AuditEvent).order_by(AuditEvent.seq))
                      ).scalars().all()
            prev = "0" * 64
            for event in events:
                if event.seq >= seq:
                    event.prev_hash = prev
                    event.hash = entry_hash(key, event.seq, event.at, entry_of(event), prev)
                prev = event.hash
            head = (await db.execute(select(AuditHead))).scalar_one()
            head.seq, head.hash = (events[-1].seq, prev) if events else (0, "0" * 64)
    finally:
        await engine.dispose()


async def cut_tail(url: str, keep: int) -> None:
    """Delete every entry after ``keep`` and rewind the head to match: a clean cut."""
    engine = make_engine(url)
    try:
        async with make_session_factory(engine)() as db, db.begin():
            await db.execute(delete(AuditEvent).where(AuditEvent.seq > keep))
            last = (await db.execute(select(AuditEvent).where(AuditEvent.seq == keep))
                    ).scalar_one()
            await db.execute(update(AuditHead).values(seq=keep, hash=last.hash))
    finally:
        await engine.dispose()


def verify_cli(url: str, *checkpoints: Path) -> tuple[int, str]:
    args = ["verify-audit"]
    for path in checkpoints or (Path("no-checkpoints.jsonl"),):
        args += ["--checkpoints", str(path)]
    result = CliRunner().invoke(cli, args, env={"QUILL_DATABASE_URL": url,
                                                "QUILL_AUDIT_KEY": TEST_AUDIT_KEY})
    return result.exit_code, result.output
