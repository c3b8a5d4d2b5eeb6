"""The keyed chain and its checkpoints catch a forger who can write to the database but
does not hold the audit key; the CLI names the first bad entry."""

from __future__ import annotations

import asyncio
from collections.abc import Iterator
from pathlib import Path

import pytest
from sqlalchemy import delete, update
from typer.testing import CliRunner

from quill.audit.models import AuditEvent
from quill.cli import cli
from quill.clock import ManualClock
from quill.db.engine import make_engine
from tests.audit.chains import (
    KEY,
    cut_tail,
    rewrite_from,
    take_checkpoint,
    verify_cli,
    write_entries,
)
from tests.databases import empty_all_tables
from tests.foundation.test_audit import _reset, _tamper

pytestmark = pytest.mark.usefixtures("database_url")


@pytest.fixture
def chain(database_url: str) -> Iterator[str]:
    asyncio.run(_reset(database_url))
    asyncio.run(write_entries(database_url, ManualClock(), 5))
    yield database_url
    asyncio.run(_reset(database_url))


def test_changed_entry_with_later_hashes_recomputed_without_the_key(chain: str) -> None:
    asyncio.run(rewrite_from(chain, 3, actor_id=99))
    code, output = verify_cli(chain)
    assert code == 1, output
    assert "broken at entry 3" in output


def test_recomputing_with_the_key_is_what_it_takes(chain: str) -> None:
    # The same forgery with the real key passes: the key, not the hashing, is the defence.
    asyncio.run(rewrite_from(chain, 3, key=KEY, actor_id=99))
    code, output = verify_cli(chain)
    assert code == 0, output


def test_deleted_entry_with_renumbering_is_detected(chain: str) -> None:
    asyncio.run(_tamper(chain, delete(AuditEvent).where(AuditEvent.seq == 2)))
    for seq in (3, 4, 5):
        asyncio.run(_tamper(chain, update(AuditEvent).where(AuditEvent.seq == seq)
                            .values(seq=seq - 1)))
    asyncio.run(rewrite_from(chain, 2))
    code, output = verify_cli(chain)
    assert code == 1, output
    assert "broken at entry 2" in output


def test_inserted_entry_signed_without_the_key_is_detected(chain: str) -> None:
    asyncio.run(write_entries(chain, ManualClock(), 1, first=6))
    asyncio.run(rewrite_from(chain, 6, resource_id="forged"))
    code, output = verify_cli(chain)
    assert code == 1, output
    assert "broken at entry 6" in output


def test_tail_cut_below_a_checkpoint_is_detected(chain: str, tmp_path: Path) -> None:
    points = tmp_path / "audit-checkpoints.jsonl"
    assert asyncio.run(take_checkpoint(chain, points, ManualClock())) is not None
    asyncio.run(cut_tail(chain, keep=3))
    # Without the checkpoint the shortened chain is self-consistent ...
    assert verify_cli(chain)[0] == 0
    # ... with it, the first missing entry is named.
    code, output = verify_cli(chain, points)
    assert code == 1, output
    assert "broken at entry 4" in output


def test_tail_cut_then_regrown_is_detected(chain: str, tmp_path: Path) -> None:
    points = tmp_path / "audit-checkpoints.jsonl"
    asyncio.run(take_checkpoint(chain, points, ManualClock()))
    asyncio.run(cut_tail(chain, keep=3))
    later = ManualClock()
    later.advance(hours=1)
    asyncio.run(write_entries(chain, later, 3, first=40))
    code, output = verify_cli(chain, points)
    assert code == 1, output
    assert "broken at entry 5" in output
    assert "checkpoint" in output


def test_hosts_checkpoints_disagreeing_about_an_entry_fail_whatever_their_order(
        chain: str, tmp_path: Path) -> None:
    # One host pinned the chain before it was cut and regrown; another pinned the new one.
    before, after = tmp_path / "first-host.jsonl", tmp_path / "second-host.jsonl"
    asyncio.run(take_checkpoint(chain, before, ManualClock()))
    asyncio.run(cut_tail(chain, keep=3))
    later = ManualClock()
    later.advance(hours=1)
    asyncio.run(write_entries(chain, later, 2, first=40))
    asyncio.run(take_checkpoint(chain, after, later))
    assert verify_cli(chain, after)[0] == 0  # the second host's file alone cannot tell
    for order in ((before, after), (after, before)):
        code, output = verify_cli(chain, *order)
        assert code == 1, output
        assert "broken at entry 5" in output


def test_chain_growing_past_its_checkpoints_verifies(chain: str, tmp_path: Path) -> None:
    points = tmp_path / "audit-checkpoints.jsonl"
    clock = ManualClock()
    asyncio.run(take_checkpoint(chain, points, clock))
    asyncio.run(write_entries(chain, clock, 2, first=6))
    asyncio.run(take_checkpoint(chain, points, clock))
    assert len(points.read_text().splitlines()) == 2
    code, output = verify_cli(chain, points)
    assert code == 0, output
    assert "7 entries verified (2 checkpoints)" in output


def test_forged_checkpoint_is_rejected(chain: str, tmp_path: Path) -> None:
    points = tmp_path / "audit-checkpoints.jsonl"
    asyncio.run(take_checkpoint(chain, points, ManualClock()))
    points.write_text(points.read_text().replace('"seq":5', '"seq":3'))
    code, output = verify_cli(chain, points)
    assert code == 1, output
    assert "line 1" in output
    assert "not made with this audit key" in output


async def test_verify_needs_a_key(database_url: str, tmp_path: Path) -> None:
    result = await asyncio.to_thread(CliRunner().invoke, cli, ["verify-audit"], env={
        "QUILL_DATABASE_URL": database_url, "QUILL_DATA_DIR": str(tmp_path)})
    assert result.exit_code == 2
    assert "QUILL_AUDIT_KEY" in result.output
    assert not (tmp_path / "audit_key").exists()


async def test_empty_chain_verifies(database_url: str) -> None:
    engine = make_engine(database_url)
    try:
        await empty_all_tables(engine)
    finally:
        await engine.dispose()
    code, output = await asyncio.to_thread(verify_cli, database_url)
    assert code == 0, output
