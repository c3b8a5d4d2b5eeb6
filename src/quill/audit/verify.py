"""Walking the keyed chain from the start, against the checkpoints kept outside the database."""

from __future__ import annotations

from collections.abc import AsyncIterator, Iterable
from dataclasses import dataclass

from sqlalchemy import select
from sqlalchemy.ext.asyncio import AsyncSession

from quill.audit.chain import GENESIS_HASH, HEAD_ROW_ID, entry_hash, entry_of
from quill.audit.checkpoints import AuditMark, RestoreRecord
from quill.audit.models import AuditEvent, AuditHead


@dataclass(frozen=True)
class VerifyResult:
    checked: int
    first_bad_seq: int | None
    reason: str | None
    checkpoints: int = 0
    # Restores recorded in the checkpoint files, oldest first.
    restores: tuple[RestoreRecord, ...] = ()
    # The hash of the last entry checked (the genesis hash for an empty chain).
    last_hash: str = GENESIS_HASH
    # With ``allow_cut``: the newest entry a checkpoint pins beyond the chain's end.
    pinned_beyond_end: int | None = None

    @property
    def ok(self) -> bool:
        return self.first_bad_seq is None


@dataclass(frozen=True)
class Expectations:
    """What the marks, read in the order written, require of the chain: the hashes pinned
    at each entry, and the restores that released the pins past their end."""

    pins: dict[int, set[str]]
    restores: tuple[RestoreRecord, ...]


def expectations(marks: Iterable[AuditMark]) -> Expectations:
    pins: dict[int, set[str]] = {}
    restores: list[RestoreRecord] = []
    for mark in marks:
        if isinstance(mark, RestoreRecord):
            if mark in restores:
                continue  # the same record, appended to each host's file
            # Entries after the restored end were lost: what pinned them no longer binds.
            # Checkpoints written after the record pin the chain that grew again.
            pins = {seq: hashes for seq, hashes in pins.items() if seq <= mark.seq}
            restores.append(mark)
        pins.setdefault(mark.seq, set()).add(mark.hash)
    return Expectations(pins, tuple(restores))


async def _events_in_order(db: AsyncSession, batch: int = 1000) -> AsyncIterator[AuditEvent]:
    last = 0
    while True:
        rows = (
            await db.execute(
                select(AuditEvent).where(AuditEvent.seq > last)
                .order_by(AuditEvent.seq).limit(batch)
            )
        ).scalars().all()
        if not rows:
            return
        for row in rows:
            yield row
        last = rows[-1].seq
        db.expunge_all()


def _check_entry(key: bytes, event: AuditEvent, expected_seq: int, prev_hash: str,
                 marks: dict[int, set[str]]) -> str | None:
    """Why this entry does not fit the chain, or None when it does."""
    if event.seq != expected_seq:
        # A missing entry shows as a gap; blame the entry found in its place.
        return f"expected entry {expected_seq}"
    if event.prev_hash != prev_hash:
        return "previous-hash link broken"
    if entry_hash(key, event.seq, event.at, entry_of(event), prev_hash) != event.hash:
        return "content does not match its keyed hash"
    if event.seq in marks and marks[event.seq] != {event.hash}:
        return "does not match the checkpoint taken at this entry"
    return None


async def verify_chain(db: AsyncSession, key: bytes, marks: Iterable[AuditMark] = (), *,
                       allow_cut: bool = False) -> VerifyResult:
    """Walk the chain from the start; report the first entry that does not fit.

    Each checkpoint pins an entry's hash: a chain cut below one is reported at the first
    missing entry, even when the head row was rewound to match the shorter chain, unless a
    restore record released that checkpoint. ``allow_cut`` (for recording a restore)
    accepts a chain that ends below its checkpoints and reports how far they reach. The
    checkpoints may come from several hosts' files; every one must hold, so two that pin
    one entry to different hashes (a cut and regrown chain) fail at that entry.
    """
    expected = expectations(marks)
    pins = expected.pins
    prev_hash, checked = GENESIS_HASH, 0

    def result(first_bad: int | None, reason: str | None,
               beyond: int | None = None) -> VerifyResult:
        return VerifyResult(checked, first_bad, reason, len(pins), expected.restores,
                            prev_hash, beyond)

    async for event in _events_in_order(db):
        reason = _check_entry(key, event, checked + 1, prev_hash, pins)
        if reason is not None:
            return result(event.seq, reason)
        prev_hash = event.hash
        checked += 1
    beyond = max((seq for seq in pins if seq > checked), default=None)
    if beyond is not None and not allow_cut:
        return result(checked + 1, f"missing: the chain ends at entry {checked} but a "
                                   f"checkpoint names entry {beyond}, and no restore is "
                                   "recorded")
    head = (
        await db.execute(select(AuditHead).where(AuditHead.id == HEAD_ROW_ID))
    ).scalar_one_or_none()
    head_seq = head.seq if head else 0
    head_hash = head.hash if head else GENESIS_HASH
    if head_seq != checked or head_hash != prev_hash:
        bad = checked + 1 if head_seq > checked else head_seq + 1
        return result(bad, "chain head does not match the last entry")
    return result(None, None, beyond)
