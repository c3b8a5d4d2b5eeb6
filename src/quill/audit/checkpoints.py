"""Keyed checkpoints of the chain head, kept outside the database.

A checkpoint ``{seq, hash, time, mac}`` pins entry ``seq`` to ``hash``. Whoever can write to
the database but not to the checkpoint file (and the log) cannot cut entries off the end of
the chain, or rewrite it, below the newest checkpoint without ``quill verify-audit`` noticing.
"""

from __future__ import annotations

import asyncio
import contextlib
import json
import logging
import os
from dataclasses import asdict, dataclass
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


def parse_checkpoint(text: str, key: bytes) -> Checkpoint:
    try:
        raw: Any = json.loads(text)
        point = Checkpoint(seq=raw["seq"], hash=raw["hash"], time=raw["time"])
        presented = raw["mac"]
    except (ValueError, KeyError, TypeError) as exc:
        raise CheckpointError("not a checkpoint") from exc
    if not (isinstance(point.seq, int) and isinstance(point.hash, str)
            and isinstance(point.time, str) and isinstance(presented, str)):
        raise CheckpointError("not a checkpoint")
    if point.mac(key) != presented:
        raise CheckpointError("not made with this audit key")
    return point


def read_checkpoints(path: Path, key: bytes) -> list[Checkpoint]:
    """Every checkpoint in the file, oldest first; a bad line raises naming its number."""
    points: list[Checkpoint] = []
    with path.open(encoding="utf-8") as lines:
        for number, text in enumerate(lines, start=1):
            if not text.strip():
                continue
            try:
                points.append(parse_checkpoint(text, key))
            except CheckpointError as exc:
                raise CheckpointError(f"{path.name} line {number}: {exc}") from None
    return points


def recent_checkpoints(path: Path, key: bytes, tail_bytes: int = 65_536) -> list[Checkpoint]:
    """The checkpoints in the file's last ``tail_bytes`` (oldest first), for a bounded look.

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
    points: list[Checkpoint] = []
    for text in lines:
        with contextlib.suppress(CheckpointError):
            points.append(parse_checkpoint(text, key))
    return points


def _last_seq(path: Path, key: bytes) -> int:
    """The seq of the file's last good checkpoint, or 0."""
    try:
        with path.open("rb") as handle:
            handle.seek(max(0, path.stat().st_size - _TAIL_BYTES))
            tail = handle.read().decode("utf-8", errors="replace").splitlines()
    except FileNotFoundError:
        return 0
    for text in reversed(tail):
        with contextlib.suppress(CheckpointError):
            return parse_checkpoint(text, key).seq
    return 0


def _append(path: Path, line: str) -> None:
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
        self._task: asyncio.Task[None] | None = None

    async def checkpoint(self) -> Checkpoint | None:
        """Checkpoint the committed head if it moved since the last checkpoint written."""
        if self._written is None:
            self._written = await asyncio.to_thread(_last_seq, self.path, self._key)
        async with self._sessions() as db:
            head = (await db.execute(
                select(AuditHead).where(AuditHead.id == HEAD_ROW_ID))).scalar_one_or_none()
        if head is None or head.seq <= self._written:
            return None
        point = Checkpoint(seq=head.seq, hash=head.hash, time=self._clock.now().isoformat())
        line = point.line(self._key)
        await asyncio.to_thread(_append, self.path, line)
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
