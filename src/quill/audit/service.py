"""Writing and verifying the audit chain. Entries join the caller's transaction."""

from __future__ import annotations

import hashlib
import json
from collections.abc import AsyncIterator
from dataclasses import dataclass
from datetime import UTC, datetime

from sqlalchemy import Select, select
from sqlalchemy.dialects import postgresql, sqlite
from sqlalchemy.ext.asyncio import AsyncSession

from quill.audit.models import AuditEvent, AuditHead
from quill.clock import Clock

GENESIS_HASH = "0" * 64
HEAD_ROW_ID = 1


@dataclass(frozen=True)
class AuditEntry:
    action: str
    resource_type: str
    resource_id: str | None = None
    patient_id: str | None = None
    actor_id: int | None = None
    request_id: str | None = None


def entry_hash(seq: int, at: datetime, entry: AuditEntry, prev_hash: str) -> str:
    content = json.dumps(
        [seq, at.astimezone(UTC).isoformat(), entry.actor_id, entry.action, entry.resource_type,
         entry.resource_id, entry.patient_id, entry.request_id, prev_hash],
        separators=(",", ":"),
    )
    return hashlib.sha256(content.encode()).hexdigest()


def _entry_of(event: AuditEvent) -> AuditEntry:
    return AuditEntry(
        action=event.action, resource_type=event.resource_type, resource_id=event.resource_id,
        patient_id=event.patient_id, actor_id=event.actor_id, request_id=event.request_id,
    )


def _head_query() -> Select[AuditHead]:
    # FOR UPDATE holds the head until commit on PostgreSQL; SQLite transactions start
    # with BEGIN IMMEDIATE, which already serialises writers.
    return (select(AuditHead).where(AuditHead.id == HEAD_ROW_ID)
            .with_for_update().execution_options(populate_existing=True))


async def _locked_head(db: AsyncSession) -> AuditHead:
    head = (await db.execute(_head_query())).scalar_one_or_none()
    if head is not None:
        return head
    # Only the very first entry creates the head; concurrent first writers meet here.
    dialect = db.get_bind().dialect.name
    insert = postgresql.insert if dialect == "postgresql" else sqlite.insert
    await db.execute(
        insert(AuditHead)
        .values(id=HEAD_ROW_ID, seq=0, hash=GENESIS_HASH)
        .on_conflict_do_nothing(index_elements=["id"])
    )
    return (await db.execute(_head_query())).scalar_one()


async def record(db: AsyncSession, clock: Clock, entry: AuditEntry) -> AuditEvent:
    """Append one entry to the chain inside the current transaction."""
    head = await _locked_head(db)
    at = clock.now()
    seq = head.seq + 1
    digest = entry_hash(seq, at, entry, head.hash)
    event = AuditEvent(
        seq=seq, at=at, actor_id=entry.actor_id, action=entry.action,
        resource_type=entry.resource_type, resource_id=entry.resource_id,
        patient_id=entry.patient_id, request_id=entry.request_id,
        prev_hash=head.hash, hash=digest,
    )
    db.add(event)
    head.seq = seq
    head.hash = digest
    await db.flush()
    return event


@dataclass(frozen=True)
class Auditor:
    """Appends entries for one unit of work. Who acts and for which request come in as
    data, so services audit the same way for HTTP, the CLI and demo seeding."""

    db: AsyncSession
    clock: Clock
    request_id: str | None = None
    actor_id: int | None = None

    async def record(
        self,
        action: str,
        resource_type: str,
        resource_id: str | None = None,
        *,
        patient_id: str | None = None,
        actor_id: int | None = None,
    ) -> AuditEvent:
        """``actor_id`` names the actor when the request has none yet (a login, say)."""
        return await record(self.db, self.clock, AuditEntry(
            action=action, resource_type=resource_type, resource_id=resource_id,
            patient_id=patient_id,
            actor_id=actor_id if actor_id is not None else self.actor_id,
            request_id=self.request_id,
        ))


@dataclass(frozen=True)
class VerifyResult:
    checked: int
    first_bad_seq: int | None
    reason: str | None

    @property
    def ok(self) -> bool:
        return self.first_bad_seq is None


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


async def verify_chain(db: AsyncSession) -> VerifyResult:
    """Walk the chain from the start; report the first entry that does not fit."""
    expected_seq = 1
    prev_hash = GENESIS_HASH
    checked = 0
    async for event in _events_in_order(db):
        if event.seq != expected_seq:
            # A missing entry shows as a gap; blame the entry found in its place.
            return VerifyResult(checked, event.seq, f"expected entry {expected_seq}")
        if event.prev_hash != prev_hash:
            return VerifyResult(checked, event.seq, "previous-hash link broken")
        if entry_hash(event.seq, event.at, _entry_of(event), prev_hash) != event.hash:
            return VerifyResult(checked, event.seq, "content does not match its hash")
        prev_hash = event.hash
        expected_seq += 1
        checked += 1
    head = (
        await db.execute(select(AuditHead).where(AuditHead.id == HEAD_ROW_ID))
    ).scalar_one_or_none()
    head_seq = head.seq if head else 0
    head_hash = head.hash if head else GENESIS_HASH
    if head_seq != checked or head_hash != prev_hash:
        bad = checked + 1 if head_seq > checked else head_seq + 1
        return VerifyResult(checked, bad, "chain head does not match the last entry")
    return VerifyResult(checked, None, None)
