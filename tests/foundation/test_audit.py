"""The audit chain: written in the caller's transaction, tampering detected by the CLI."""

from __future__ import annotations

import asyncio
from collections.abc import Iterator

import pytest
from sqlalchemy import delete, func, select, text, update
from typer.testing import CliRunner

from quill.audit.chain import install_chain
from quill.audit.models import AuditEvent, AuditHead
from quill.audit.service import AuditEntry, record, verify_chain
from quill.cli import cli
from quill.clock import ManualClock
from quill.db.engine import make_engine, make_session_factory
from tests.conftest import TEST_AUDIT_KEY
from tests.databases import empty_all_tables

pytestmark = pytest.mark.usefixtures("database_url")
KEY = TEST_AUDIT_KEY.encode()


async def _write_entries(url: str, count: int) -> None:
    engine = make_engine(url)
    clock = ManualClock()
    try:
        factory = make_session_factory(engine)
        install_chain(factory, KEY)
        for index in range(count):
            async with factory() as db, db.begin():
                await record(db, clock, AuditEntry(
                    action="patient.read", resource_type="Patient", resource_id=f"p{index}",
                    patient_id=f"p{index}", actor_id=1, request_id=f"req-{index}",
                ))
            clock.advance(seconds=1)
    finally:
        await engine.dispose()


async def _tamper(url: str, statement: object) -> None:
    engine = make_engine(url)
    try:
        async with engine.begin() as connection:
            await connection.execute(statement)  # type: ignore[call-overload]
    finally:
        await engine.dispose()


async def _reset(url: str) -> None:
    engine = make_engine(url)
    try:
        await empty_all_tables(engine)
    finally:
        await engine.dispose()


def _verify_cli(url: str) -> tuple[int, str]:
    result = CliRunner().invoke(cli, ["verify-audit", "--checkpoints", "none.jsonl"], env={
        "QUILL_DATABASE_URL": url, "QUILL_AUDIT_KEY": TEST_AUDIT_KEY})
    return result.exit_code, result.output


@pytest.fixture
def chain(database_url: str) -> Iterator[str]:
    asyncio.run(_reset(database_url))
    asyncio.run(_write_entries(database_url, 5))
    yield database_url
    asyncio.run(_reset(database_url))


def test_intact_chain_verifies(chain: str) -> None:
    code, output = _verify_cli(chain)
    assert code == 0, output
    assert "5 entries verified" in output


def test_altered_entry_is_named(chain: str) -> None:
    asyncio.run(_tamper(chain, update(AuditEvent).where(AuditEvent.seq == 3)
                        .values(actor_id=99)))
    code, output = _verify_cli(chain)
    assert code == 1, output
    assert "entry 3" in output


def test_deleted_entry_is_detected(chain: str) -> None:
    asyncio.run(_tamper(chain, delete(AuditEvent).where(AuditEvent.seq == 2)))
    code, output = _verify_cli(chain)
    assert code == 1, output
    assert "entry 3" in output


def test_deleted_last_entry_is_detected(chain: str) -> None:
    asyncio.run(_tamper(chain, delete(AuditEvent).where(AuditEvent.seq == 5)))
    code, output = _verify_cli(chain)
    assert code == 1, output
    assert "entry 5" in output


def test_inserted_entry_is_detected(chain: str) -> None:
    forged = text(
        "INSERT INTO audit_events (seq, at, actor_id, action, resource_type, resource_id, "
        "patient_id, request_id, prev_hash, hash) VALUES (6, '2026-01-01 10:00:00+00:00', 1, "
        "'patient.read', 'Patient', 'x', 'x', 'r', 'forged', 'forged')"
    )
    asyncio.run(_tamper(chain, forged))
    code, output = _verify_cli(chain)
    assert code == 1, output
    assert "entry 6" in output


def test_rewritten_hashes_still_break_the_head(chain: str) -> None:
    asyncio.run(_tamper(chain, update(AuditHead).values(seq=4)))
    code, _output = _verify_cli(chain)
    assert code == 1, _output


async def test_concurrent_writers_keep_one_chain(database_url: str) -> None:
    engine = make_engine(database_url)
    clock = ManualClock()
    try:
        await empty_all_tables(engine)
        factory = make_session_factory(engine)
        install_chain(factory, KEY)

        async def write(index: int) -> None:
            async with factory() as db, db.begin():
                await record(db, clock, AuditEntry(action="x", resource_type="T",
                                                   resource_id=str(index)))

        await asyncio.gather(*(write(i) for i in range(20)))
        async with factory() as db:
            result = await verify_chain(db, KEY)
            count = (await db.execute(select(func.count()).select_from(AuditEvent))).scalar()
        assert result.ok, result
        assert result.checked == 20 == count
    finally:
        await empty_all_tables(engine)
        await engine.dispose()


async def test_rolled_back_transaction_leaves_no_entry(database_url: str) -> None:
    engine = make_engine(database_url)
    try:
        await empty_all_tables(engine)
        factory = make_session_factory(engine)
        install_chain(factory, KEY)

        async def failing_change() -> None:
            async with factory() as db, db.begin():
                await record(db, ManualClock(), AuditEntry(action="x", resource_type="T"))
                raise RuntimeError("the change failed")

        with pytest.raises(RuntimeError):
            await failing_change()
        async with factory() as db:
            assert (await verify_chain(db, KEY)).checked == 0
    finally:
        await engine.dispose()
