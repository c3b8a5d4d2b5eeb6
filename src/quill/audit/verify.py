"""Walking the keyed chain from the start, against the checkpoints kept outside the database."""

from __future__ import annotations

from collections.abc import AsyncIterator, Iterable
from dataclasses import dataclass

from sqlalchemy import select
from sqlalchemy.ext.asyncio import AsyncSession

from quill.audit.chain import GENESIS_HASH, HEAD_ROW_ID, entry_hash, entry_of
from quill.audit.checkpoints import Checkpoint
from quill.audit.models import AuditEvent, AuditHead


@dataclass(frozen=True)
class VerifyResult:
    checked: int
    first_bad_seq: int | None
    reason: str | None
    checkpoints: int = 0
    # The first entry checked: 1 for the whole chain, later for a recent window.
    first_seq: int = 1

    @property
    def ok(self) -> bool:
        return self.first_bad_seq is None


async def _events_in_order(db: AsyncSession, batch: int = 1000, after: int = 0
                           ) -> AsyncIterator[AuditEvent]:
    last = after
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
                 marks: dict[int, str]) -> str | None:
    """Why this entry does not fit the chain, or None when it does."""
    if event.seq != expected_seq:
        # A missing entry shows as a gap; blame the entry found in its place.
        return f"expected entry {expected_seq}"
    if event.prev_hash != prev_hash:
        return "previous-hash link broken"
    if entry_hash(key, event.seq, event.at, entry_of(event), prev_hash) != event.hash:
        return "content does not match its keyed hash"
    if event.seq in marks and marks[event.seq] != event.hash:
        return "does not match the checkpoint taken at this entry"
    return None


async def verify_chain(db: AsyncSession, key: bytes,
                       checkpoints: Iterable[Checkpoint] = ()) -> VerifyResult:
    """Walk the chain from the start; report the first entry that does not fit.

    Each checkpoint pins an entry's hash: a chain cut below one is reported at the first
    missing entry, even when the head row was rewound to match the shorter chain.
    """
    marks = {mark.seq: mark.hash for mark in checkpoints}
    prev_hash, checked = GENESIS_HASH, 0
    async for event in _events_in_order(db):
        reason = _check_entry(key, event, checked + 1, prev_hash, marks)
        if reason is not None:
            return VerifyResult(checked, event.seq, reason, len(marks))
        prev_hash = event.hash
        checked += 1
    beyond = [seq for seq in marks if seq > checked]
    if beyond:
        return VerifyResult(checked, checked + 1,
                            f"missing: a checkpoint names entry {max(beyond)}", len(marks))
    head_seq, head_hash = await _head(db)
    if head_seq != checked or head_hash != prev_hash:
        bad = checked + 1 if head_seq > checked else head_seq + 1
        return VerifyResult(checked, bad, "chain head does not match the last entry",
                            len(marks))
    return VerifyResult(checked, None, None, len(marks))


async def _head(db: AsyncSession) -> tuple[int, str]:
    head = (
        await db.execute(select(AuditHead).where(AuditHead.id == HEAD_ROW_ID))
    ).scalar_one_or_none()
    return (head.seq, head.hash) if head else (0, GENESIS_HASH)


async def verify_recent(db: AsyncSession, key: bytes, checkpoints: Iterable[Checkpoint],
                        window: int) -> VerifyResult:
    """The newest ``window`` entries checked exactly as ``verify_chain`` checks them.

    Bounded work for a page: the walk starts from the link stored in the entry just
    before the window, which is taken as given (only a full walk proves the entries
    below it). Checkpoints inside the window must match; one past the head means the
    chain was cut. ``checked`` counts the entries of the window that fit.
    """
    head_seq, head_hash = await _head(db)
    first = max(1, head_seq - window + 1)
    prev_hash = GENESIS_HASH
    if first > 1:
        anchor = await db.get(AuditEvent, first - 1)
        if anchor is None:
            return VerifyResult(0, first - 1, "missing: entry before the window", 0, first)
        prev_hash = anchor.hash
    marks = {mark.seq: mark.hash for mark in checkpoints if mark.seq >= first}
    checked = 0
    async for event in _events_in_order(db, after=first - 1):
        reason = _check_entry(key, event, first + checked, prev_hash, marks)
        if reason is not None:
            return VerifyResult(checked, event.seq, reason, len(marks), first)
        prev_hash = event.hash
        checked += 1
    last = first + checked - 1
    beyond = [seq for seq in marks if seq > last]
    if beyond:
        return VerifyResult(checked, last + 1,
                            f"missing: a checkpoint names entry {max(beyond)}", len(marks), first)
    if head_seq != last or head_hash != prev_hash:
        return VerifyResult(checked, last + 1, "chain head does not match the last entry",
                            len(marks), first)
    return VerifyResult(checked, None, None, len(marks), first)
