"""Restoring a backup: verify-audit tells a restore recorded with `quill record-restore`
apart from a tail cut without one, on SQLite (the online backup API) and PostgreSQL
(pg_dump -Fc / pg_restore into a fresh database)."""

from __future__ import annotations

import asyncio
import json
import logging
import os
import shutil
import sqlite3
import subprocess
from collections.abc import AsyncIterator, Awaitable, Callable
from contextlib import AbstractAsyncContextManager, asynccontextmanager, closing
from dataclasses import dataclass
from datetime import UTC, datetime, timedelta
from functools import partial
from pathlib import Path

import pytest
from sqlalchemy.engine import make_url
from typer.testing import CliRunner

from quill.audit.checkpoints import RestoreRecord, read_marks
from quill.cli import cli
from quill.clock import ManualClock
from quill.migrations.run import upgrade
from tests.audit.chains import (
    GUESSED_KEY,
    KEY,
    cut_tail,
    rewrite_from,
    take_checkpoint,
    write_entries,
)
from tests.conftest import TEST_AUDIT_KEY
from tests.databases import postgres_database


@dataclass(frozen=True)
class Outcome:
    code: int
    stdout: list[str]
    stderr: list[str]


def _quill(url: str, command: str, points: Path | list[Path],
           key: str | None = TEST_AUDIT_KEY, data_dir: Path | None = None) -> Outcome:
    env = {"QUILL_DATABASE_URL": url, "QUILL_AUDIT_KEY": key or ""}
    if data_dir is not None:
        env["QUILL_DATA_DIR"] = str(data_dir)
    args = [command]
    for path in points if isinstance(points, list) else [points]:
        args += ["--checkpoints", str(path)]
    result = CliRunner().invoke(cli, args, env=env)
    return Outcome(result.exit_code, result.stdout.splitlines(), result.stderr.splitlines())


async def quill(url: str, command: str, points: Path | list[Path],
                key: str | None = TEST_AUDIT_KEY, data_dir: Path | None = None) -> Outcome:
    return await asyncio.to_thread(partial(_quill, url, command, points, key, data_dir))


async def pinned_at(url: str, points: Path, clock: ManualClock) -> int:
    """Write a checkpoint of the chain's head; its seq."""
    point = await take_checkpoint(url, points, clock)
    assert point is not None
    return point.seq


# A backup of the database at ``url`` is taken into a directory (a file), and later
# restored (giving the URL of the restored database).
Backup = Callable[[str, Path], Awaitable[Path]]
Restore = Callable[[str, Path], AbstractAsyncContextManager[str]]


@dataclass(frozen=True)
class Backend:
    backup: Backup
    restore: Restore


def _sqlite_path(url: str) -> Path:
    return Path(str(make_url(url).database))


async def _sqlite_backup(url: str, directory: Path) -> Path:
    """What operations.md says to run while Quill serves: SQLite's online backup."""
    target = directory / "backup.db"

    def copy() -> None:
        with closing(sqlite3.connect(_sqlite_path(url))) as live, \
                closing(sqlite3.connect(target)) as backup:
            live.backup(backup)

    await asyncio.to_thread(copy)
    return target


@asynccontextmanager
async def _sqlite_restore(url: str, backup: Path) -> AsyncIterator[str]:
    # As operations.md says: Quill stopped, the replaced database's WAL files removed, the
    # backup copied into place.
    database = _sqlite_path(url)
    for suffix in ("-wal", "-shm"):
        database.with_name(database.name + suffix).unlink(missing_ok=True)
    await asyncio.to_thread(shutil.copyfile, backup, database)
    yield url


def _pg_tools() -> tuple[str, str] | None:
    dump, restore = shutil.which("pg_dump"), shutil.which("pg_restore")
    return (dump, restore) if dump and restore else None


def _dsn(url: str) -> str:
    return make_url(url).set(drivername="postgresql").render_as_string(hide_password=False)


async def _pg_backup(url: str, directory: Path) -> Path:
    tools = _pg_tools()
    if tools is None:
        if os.environ.get("CI") == "true":
            pytest.fail("pg_dump and pg_restore are required under CI=true")
        pytest.skip("pg_dump / pg_restore not installed (the PostgreSQL client tools)")
    target = directory / "backup.dump"
    await asyncio.to_thread(subprocess.run, [tools[0], "-Fc", "-f", str(target), _dsn(url)],
                            check=True, timeout=120, capture_output=True)
    return target


@asynccontextmanager
async def _pg_restore(url: str, backup: Path) -> AsyncIterator[str]:
    tools = _pg_tools()
    assert tools is not None
    # Into a fresh database, as after losing the server; the test then points Quill at it.
    async with postgres_database() as restored:
        await asyncio.to_thread(
            subprocess.run, [tools[1], "--no-owner", "--exit-on-error", "-d", _dsn(restored),
                             str(backup)],
            check=True, timeout=120, capture_output=True)
        yield restored


@asynccontextmanager
async def fresh_database(backend: str, directory: Path) -> AsyncIterator[str]:
    if backend == "sqlite":
        url = f"sqlite:///{directory / 'quill.db'}"
        await asyncio.to_thread(upgrade, url)
        yield url
        return
    async with postgres_database() as url:
        await asyncio.to_thread(upgrade, url)
        yield url


BACKENDS = {"sqlite": Backend(_sqlite_backup, _sqlite_restore),
            "postgres": Backend(_pg_backup, _pg_restore)}


@pytest.mark.parametrize("backend", ["sqlite", "postgres"])
async def test_a_recorded_restore_passes_and_a_cut_tail_still_fails(
        backend: str, tmp_path: Path, caplog: pytest.LogCaptureFixture) -> None:
    points = tmp_path / "audit-checkpoints.jsonl"
    clock = ManualClock()
    async with fresh_database(backend, tmp_path) as url:
        await write_entries(url, clock, 5)
        assert await pinned_at(url, points, clock) == 5
        backup = await BACKENDS[backend].backup(url, tmp_path)
        # Work after the backup: audited entries 6-9, pinned by a checkpoint.
        await write_entries(url, clock, 4, first=6)
        assert await pinned_at(url, points, clock) == 9
        assert (await quill(url, "verify-audit", points)).code == 0

        async with BACKENDS[backend].restore(url, backup) as restored:
            # The restored chain ends at 5; the checkpoint at 9 makes that a cut.
            cut = await quill(restored, "verify-audit", points)
            assert cut.code == 1, cut
            assert cut.stdout == [
                "audit chain broken at entry 6: missing: the chain ends at entry 5 but a "
                "checkpoint names entry 9, and no restore is recorded (5 entries verified "
                "before it)"]
            # A worker started now writes nothing and says why.
            caplog.set_level(logging.WARNING, logger="quill.audit")
            assert await take_checkpoint(restored, points, clock) is None
            assert any("quill record-restore" in r.getMessage() for r in caplog.records)

            recorded = await quill(restored, "record-restore", points)
            assert recorded.code == 0, recorded
            assert len(recorded.stdout) == 1
            assert recorded.stdout[0].startswith("restore recorded at ")
            assert recorded.stdout[0].endswith(
                ": entries after 5 were lost (checkpoints had reached entry 9); appended to "
                f"{points}")
            record = read_marks(points, KEY)[-1]
            assert isinstance(record, RestoreRecord)
            assert (record.restored_to_seq, record.lost_through_seq) == (5, 9)
            assert abs(datetime.fromisoformat(record.time) - datetime.now(UTC)) \
                < timedelta(minutes=5)

            passed = await quill(restored, "verify-audit", points)
            assert passed.code == 0, passed
            assert passed.stdout == [
                f"restore recorded at {record.time}: entries after 5 were lost "
                "(checkpoints had reached entry 9)",
                "audit chain ok: 5 entries verified (1 checkpoints)"]

            # Quill runs again: new entries 6-8 and a checkpoint written after the record,
            # which pins the new chain (and the old entry 9 no longer counts).
            later = ManualClock(datetime.now(UTC) + timedelta(minutes=1))
            await write_entries(restored, later, 3, first=60)
            assert await pinned_at(restored, points, later) == 8
            grown = await quill(restored, "verify-audit", points)
            assert grown.code == 0, grown
            assert grown.stdout[-1] == "audit chain ok: 8 entries verified (2 checkpoints)"

            # The recorded restore does not excuse a later cut.
            await cut_tail(restored, keep=6)
            recut = await quill(restored, "verify-audit", points)
            assert recut.code == 1, recut
            assert recut.stdout == [
                "audit chain broken at entry 7: missing: the chain ends at entry 6 but a "
                "checkpoint names entry 8, and no restore is recorded (6 entries verified "
                "before it)"]


@pytest.fixture
async def restored_sqlite(tmp_path: Path) -> AsyncIterator[tuple[str, Path]]:
    """A SQLite chain of 3 entries restored from a backup, the checkpoint file pinning
    entry 6 of the chain it replaced."""
    points = tmp_path / "audit-checkpoints.jsonl"
    clock = ManualClock()
    async with fresh_database("sqlite", tmp_path) as url:
        await write_entries(url, clock, 3)
        backup = await _sqlite_backup(url, tmp_path)
        await write_entries(url, clock, 3, first=4)
        await take_checkpoint(url, points, clock)
        async with _sqlite_restore(url, backup) as restored:
            yield restored, points


async def test_a_restore_record_forged_without_the_key_is_rejected(
        restored_sqlite: tuple[str, Path]) -> None:
    url, points = restored_sqlite
    forged = RestoreRecord(restored_to_seq=3, hash="0" * 64, time=datetime.now(UTC)
                           .isoformat(), lost_through_seq=6)
    with points.open("a") as handle:
        handle.write(forged.line(GUESSED_KEY) + "\n")
    outcome = await quill(url, "verify-audit", points)
    assert outcome.code == 1, outcome
    assert outcome.stdout == ["audit checkpoints rejected: audit-checkpoints.jsonl line 2: "
                              "not made with this audit key"]


async def test_every_field_of_a_restore_record_is_covered_by_its_mac(
        restored_sqlite: tuple[str, Path]) -> None:
    url, points = restored_sqlite
    assert (await quill(url, "record-restore", points)).code == 0
    lines = points.read_text().splitlines()
    record = json.loads(lines[-1])
    for field, value in [("restored_to_seq", 2), ("hash", "f" * 64),
                         ("time", "2020-01-01T00:00:00+00:00"), ("lost_through_seq", 5)]:
        points.write_text("\n".join([*lines[:-1], json.dumps({**record, field: value})]))
        outcome = await quill(url, "verify-audit", points)
        assert outcome.code == 1, (field, outcome)
        assert outcome.stdout == ["audit checkpoints rejected: audit-checkpoints.jsonl line "
                                  "2: not made with this audit key"], field


async def test_checkpoint_files_of_several_hosts_are_read_as_one_history(
        restored_sqlite: tuple[str, Path], tmp_path: Path) -> None:
    url, host_a = restored_sqlite  # host A pinned entry 6 of the chain the restore replaced
    host_b = tmp_path / "host-b.jsonl"
    recorded = await quill(url, "record-restore", [host_b, host_a])
    assert recorded.code == 0, recorded
    assert recorded.stdout[0].endswith(f"; appended to {host_b}, {host_a}")
    assert host_a.read_text().splitlines()[-1] == host_b.read_text().strip()
    # Host A's checkpointer resumes from the record, the last line of its own file.
    later = ManualClock(datetime.now(UTC) + timedelta(minutes=1))
    await write_entries(url, later, 2, first=40)
    assert await pinned_at(url, host_a, later) == 5
    passed = await quill(url, "verify-audit", [host_a, host_b])
    assert passed.code == 0, passed
    assert passed.stdout == [  # the one restore, read from both files, reported once
        "restore recorded at {}: entries after 3 were lost (checkpoints had reached entry 6)"
        .format(json.loads(host_b.read_text())["time"]),
        "audit chain ok: 5 entries verified (2 checkpoints)"]
    await cut_tail(url, keep=4)
    cut = await quill(url, "verify-audit", [host_a, host_b])
    assert cut.code == 1, cut
    assert "but a checkpoint names entry 5, and no restore is recorded" in cut.stdout[0]


async def test_record_restore_refuses_a_chain_that_does_not_verify(
        restored_sqlite: tuple[str, Path]) -> None:
    url, points = restored_sqlite
    before = points.read_text()
    await rewrite_from(url, 2, actor_id=99)  # changed without the key
    outcome = await quill(url, "record-restore", points)
    assert outcome.code == 1, outcome
    assert outcome.stderr == [
        "audit chain broken at entry 2: content does not match its keyed hash (1 entries "
        "verified before it); no restore recorded"]
    assert points.read_text() == before


async def test_record_restore_needs_the_key(restored_sqlite: tuple[str, Path],
                                            tmp_path: Path) -> None:
    url, points = restored_sqlite
    before = points.read_text()
    outcome = await quill(url, "record-restore", points, key=None,
                          data_dir=tmp_path / "no-key-here")
    assert outcome.code == 2, outcome
    assert outcome.stderr == ["error: QUILL_AUDIT_KEY is not set and no generated key is "
                              "in the data directory"]
    assert points.read_text() == before


async def test_nothing_to_record_when_the_chain_reaches_every_checkpoint(
        tmp_path: Path) -> None:
    points = tmp_path / "audit-checkpoints.jsonl"
    clock = ManualClock()
    async with fresh_database("sqlite", tmp_path) as url:
        await write_entries(url, clock, 2)
        await take_checkpoint(url, points, clock)
        before = points.read_text()
        outcome = await quill(url, "record-restore", points)
    assert outcome.code == 0, outcome
    assert outcome.stdout == ["nothing to record: the chain's 2 entries reach every "
                              "checkpoint"]
    assert points.read_text() == before
