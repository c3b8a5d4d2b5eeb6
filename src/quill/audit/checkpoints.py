"""Keyed checkpoints of the chain head, kept outside the database.

A checkpoint ``{seq, hash, time, mac}`` pins entry ``seq`` to ``hash``. Whoever can write to
the database but not to the checkpoint file (and the log) cannot cut entries off the end of
the chain, or rewrite it, below the newest checkpoint without ``quill verify-audit`` noticing.

Restoring a backup cuts the tail too, on purpose. The operator says so with a keyed restore
record ``{restored_to_seq, hash, time, lost_through_seq, mac}`` (``quill record-restore``)
appended to the same file: the checkpoints written before it that lie past the restored end
no longer bind, and the lost range is reported instead. Without the key no one can write
such a record, so a cut without one still fails verification.
"""

from __future__ import annotations

import asyncio
import contextlib
import json
import logging
import os
from collections.abc import Iterator
from dataclasses import asdict, dataclass
from datetime import datetime
from heapq import merge
from pathlib import Path
from typing import Any

from sqlalchemy import select
from sqlalchemy.ext.asyncio import AsyncSession, async_sessionmaker

from quill.audit.chain import HEAD_ROW_ID, mac
from quill.audit.models import AuditHead
from quill.clock import Clock

log = logging.getLogger("quill.audit")
# Enough to hold the last line of the file, which is all a writer needs at start.
_TAIL_BYTES = 4096


class CheckpointError(ValueError):
    """A checkpoint line that is malformed or not made with the audit key."""


@dataclass(frozen=True)
class Checkpoint:
    seq: int
    hash: str
    time: str

    def mac(self, key: bytes) -> str:
        return mac(key, ["checkpoint", self.seq, self.hash, self.time])

    def line(self, key: bytes) -> str:
        return json.dumps({**asdict(self), "mac": self.mac(key)}, separators=(",", ":"))


@dataclass(frozen=True)
class RestoreRecord:
    """A restore the operator recorded: the chain now ends at ``restored_to_seq`` (whose
    hash is ``hash``); entries after it, up to at least ``lost_through_seq`` (the newest
    entry a checkpoint had pinned), were lost with the restore."""

    restored_to_seq: int
    hash: str
    time: str
    lost_through_seq: int

    @property
    def seq(self) -> int:
        """Where the chain continues from, as a checkpoint's ``seq`` says for its entry."""
        return self.restored_to_seq

    def mac(self, key: bytes) -> str:
        return mac(key, ["restore", self.restored_to_seq, self.hash, self.time,
                         self.lost_through_seq])

    def line(self, key: bytes) -> str:
        return json.dumps({**asdict(self), "mac": self.mac(key)}, separators=(",", ":"))


AuditMark = Checkpoint | RestoreRecord


def _aware_time(text: str) -> datetime:
    moment = datetime.fromisoformat(text)
    if moment.tzinfo is None:
        raise ValueError("a time without a zone")
    return moment


def _parse(raw: Any) -> tuple[AuditMark, object]:
    mark: AuditMark
    if "restored_to_seq" in raw:
        mark = RestoreRecord(
            restored_to_seq=raw["restored_to_seq"], hash=raw["hash"], time=raw["time"],
            lost_through_seq=raw["lost_through_seq"])
        numbers: tuple[object, ...] = (raw["restored_to_seq"], raw["lost_through_seq"])
    else:
        mark = Checkpoint(seq=raw["seq"], hash=raw["hash"], time=raw["time"])
        numbers = (raw["seq"],)
    if not (all(type(number) is int for number in numbers) and isinstance(mark.hash, str)
            and isinstance(mark.time, str)):
        raise TypeError("wrong field types")
    _aware_time(mark.time)
    return mark, raw["mac"]


def parse_mark(text: str, key: bytes) -> AuditMark:
    """A checkpoint or restore record line, checked against the key."""
    try:
        point, presented = _parse(json.loads(text))
    except (ValueError, KeyError, TypeError) as exc:
        raise CheckpointError("not a checkpoint") from exc
    if not isinstance(presented, str) or point.mac(key) != presented:
        raise CheckpointError("not made with this audit key")
    return point


def read_marks(path: Path, key: bytes) -> list[AuditMark]:
    """Every checkpoint and restore record in the file, in the order they were appended;
    a bad line raises naming its number."""
    marks: list[AuditMark] = []
    with path.open(encoding="utf-8") as lines:
        for number, text in enumerate(lines, start=1):
            if not text.strip():
                continue
            try:
                marks.append(parse_mark(text, key))
            except CheckpointError as exc:
                raise CheckpointError(f"{path.name} line {number}: {exc}") from None
    return marks


def read_checkpoints(path: Path, key: bytes) -> list[Checkpoint]:
    """The file's checkpoints (its restore records left out), oldest first."""
    return [mark for mark in read_marks(path, key) if isinstance(mark, Checkpoint)]


def in_written_order(files: list[list[AuditMark]]) -> Iterator[AuditMark]:
    """The marks of several files as one history: each file's own order kept (appends are
    ordered), files interleaved by time (hosts keeping their own file)."""
    return merge(*files, key=lambda mark: _aware_time(mark.time))


def recent_marks(path: Path, key: bytes, tail_bytes: int = 65_536) -> list[AuditMark]:
    """The checkpoints and restore records in the file's last ``tail_bytes`` (oldest
    first), for a bounded look.

    A line cut by the start of the tail, or one not made with the key, is skipped: the
    full check (``quill verify-audit``) is the one that rejects a bad file.
    """
    try:
        with path.open("rb") as handle:
            size = path.stat().st_size
            handle.seek(max(0, size - tail_bytes))
            lines = handle.read().decode("utf-8", errors="replace").splitlines()
    except FileNotFoundError:
        return []
    if size > tail_bytes:
        lines = lines[1:]
    marks: list[AuditMark] = []
    for text in lines:
        with contextlib.suppress(CheckpointError):
            marks.append(parse_mark(text, key))
    return marks


def _last_seq(path: Path, key: bytes) -> int:
    """The seq of the file's last good checkpoint (or restore record), or 0."""
    try:
        with path.open("rb") as handle:
            handle.seek(max(0, path.stat().st_size - _TAIL_BYTES))
            tail = handle.read().decode("utf-8", errors="replace").splitlines()
    except FileNotFoundError:
        return 0
    for text in reversed(tail):
        with contextlib.suppress(CheckpointError):
            return parse_mark(text, key).seq
    return 0


def append_line(path: Path, line: str) -> None:
    """Append one line and make it durable."""
    path.parent.mkdir(parents=True, exist_ok=True)
    # O_APPEND: workers sharing the file never overwrite each other's lines.
    fd = os.open(path, os.O_WRONLY | os.O_APPEND | os.O_CREAT, 0o600)
    try:
        os.write(fd, (line + "\n").encode())
        os.fsync(fd)
    finally:
        os.close(fd)


class AuditCheckpointer:
    """Writes a checkpoint every ``interval`` seconds while the chain grows, and at close."""

    def __init__(self, session_factory: async_sessionmaker[AsyncSession], key: bytes,
                 path: Path, clock: Clock, interval: float) -> None:
        self._sessions = session_factory
        self._key = key
        self.path = path
        self._clock = clock
        self._interval = interval
        self._written: int | None = None
        self._warned_below = False
        self._task: asyncio.Task[None] | None = None

    async def checkpoint(self) -> Checkpoint | None:
        """Checkpoint the committed head if it moved since the last checkpoint written."""
        if self._written is None:
            self._written = await asyncio.to_thread(_last_seq, self.path, self._key)
        async with self._sessions() as db:
            head = (await db.execute(
                select(AuditHead).where(AuditHead.id == HEAD_ROW_ID))).scalar_one_or_none()
        if head is not None and head.seq < self._written and not self._warned_below:
            # A restored backup (or a cut): the chain gets no checkpoint until it passes
            # the last one, and verify-audit fails until the restore is recorded.
            self._warned_below = True
            log.warning("audit chain ends below the last checkpoint; if a backup was "
                        "restored, stop Quill and run quill record-restore",
                        extra={"head_seq": head.seq, "checkpoint_seq": self._written})
        if head is None or head.seq <= self._written:
            return None
        point = Checkpoint(seq=head.seq, hash=head.hash, time=self._clock.now().isoformat())
        line = point.line(self._key)
        await asyncio.to_thread(append_line, self.path, line)
        self._written = point.seq
        log.info("audit checkpoint", extra={"audit_checkpoint": json.loads(line)})
        return point

    def start(self) -> None:
        """Begin the periodic checkpoints (needs a running event loop)."""
        if self._task is None:
            self._task = asyncio.get_running_loop().create_task(self._run())

    async def _run(self) -> None:
        while True:
            await asyncio.sleep(self._interval)
            try:
                await self.checkpoint()
            except Exception:
                log.exception("audit checkpoint failed")

    async def aclose(self) -> None:
        """Stop the periodic task and write the last checkpoint."""
        if self._task is not None:
            self._task.cancel()
            with contextlib.suppress(asyncio.CancelledError):
                await self._task
            self._task = None
        try:
            await self.checkpoint()
        except Exception:
            log.exception("audit checkpoint at shutdown failed")
