"""`quill rebuild-projection`: rebuild the messaging tables from the FHIR Communications.

Idempotent, and safe while the server runs: the rebuild is one transaction that first
takes the projection's write lock, so concurrent posts wait for it and nothing committed
before the lock is missed. Read positions (``last_read_at``) are projection-only state
and are carried over.
"""

from __future__ import annotations

import logging
from dataclasses import dataclass, field
from datetime import datetime

from sqlalchemy import delete, select, text
from sqlalchemy.ext.asyncio import AsyncSession

from quill.fhir.port import FhirStore
from quill.messaging import fhir_mapping as fm
from quill.messaging.models import Conversation, ConversationParticipant, Message

log = logging.getLogger("quill.messaging.rebuild")
PAGE_SIZE = 200


@dataclass(frozen=True)
class RebuildReport:
    conversations: int
    messages: int
    skipped: int


@dataclass
class _Scan:
    messages: list[fm.MessageRecord] = field(default_factory=list)
    threads: dict[str, fm.ThreadRecord] = field(default_factory=dict)
    skipped: int = 0


async def _scan(store: FhirStore) -> _Scan:
    scan = _Scan()
    cursor: str | None = None
    while True:
        page = await store.search("Communication", {}, count=PAGE_SIZE, cursor=cursor)
        for resource in page.resources:
            record = fm.read_message(resource)
            thread = fm.read_thread(resource) if record and record.root_fhir_id is None else None
            if record is None or (record.root_fhir_id is None and thread is None):
                scan.skipped += 1
                continue
            scan.messages.append(record)
            if thread is not None:
                scan.threads[record.fhir_id] = thread
        if page.next_cursor is None:
            return scan
        cursor = page.next_cursor


async def _lock_projection(db: AsyncSession) -> None:
    if db.get_bind().dialect.name == "postgresql":
        await db.execute(text(
            "LOCK TABLE conversations, conversation_participants, messages IN EXCLUSIVE MODE"))
    # SQLite: the transaction began with BEGIN IMMEDIATE and already holds the write lock.


async def _read_positions(db: AsyncSession) -> dict[tuple[int, int], datetime | None]:
    rows = await db.execute(select(ConversationParticipant.conversation_id,
                                   ConversationParticipant.user_id,
                                   ConversationParticipant.last_read_at))
    return {(c, u): at for c, u, at in rows.all()}


async def _reset_sequences(db: AsyncSession) -> None:
    if db.get_bind().dialect.name != "postgresql":
        return
    for table in ("conversations", "conversation_participants", "messages"):
        await db.execute(text(
            f"SELECT setval(pg_get_serial_sequence('{table}', 'id'), "  # noqa: S608 - fixed names
            f"COALESCE((SELECT MAX(id) FROM {table}), 0) + 1, false)"))


async def rebuild_projection(db: AsyncSession, store: FhirStore) -> RebuildReport:
    await _lock_projection(db)
    positions = await _read_positions(db)
    scan = await _scan(store)
    await db.execute(delete(Message))
    await db.execute(delete(ConversationParticipant))
    await db.execute(delete(Conversation))
    by_root: dict[str, list[fm.MessageRecord]] = {}
    for record in scan.messages:
        by_root.setdefault(record.root_fhir_id or record.fhir_id, []).append(record)
    ids_by_fhir = {m.fhir_id: m.message_id for m in scan.messages}
    count_messages = 0
    for root_id, thread in scan.threads.items():
        thread_messages = sorted(by_root.get(root_id, []), key=lambda m: (m.sent, m.message_id))
        first, last = thread_messages[0], thread_messages[-1]
        updated_at = max([last.sent, *([thread.state_changed] if thread.state_changed else [])])
        db.add(Conversation(
            id=thread.conversation_id, fhir_conversation_id=root_id,
            patient_id=first.patient_id, subject=thread.subject, status=thread.status,
            include_patient_as_participant=thread.include_patient,
            created_by=next((p.user_id for p in thread.participants if p.role == "initiator"),
                            first.sender_id),
            created_at=first.sent,
            updated_at=updated_at,
            last_message_id=last.message_id,
        ))
        await db.flush()
        for p in thread.participants:
            db.add(ConversationParticipant(
                conversation_id=thread.conversation_id, user_id=p.user_id, role=p.role,
                joined_at=p.joined_at, conversation_updated_at=updated_at,
                last_read_at=positions.get((thread.conversation_id, p.user_id))))
        for m in thread_messages:
            db.add(Message(
                id=m.message_id, conversation_id=thread.conversation_id,
                fhir_communication_id=m.fhir_id, sender_id=m.sender_id, body=m.body,
                amends_id=ids_by_fhir.get(m.amends_fhir_id) if m.amends_fhir_id else None,
                created_at=m.sent))
            count_messages += 1
        await db.flush()
    await _reset_sequences(db)
    orphans = len(scan.messages) - count_messages
    log.info("projection rebuilt", extra={"conversations": len(scan.threads),
                                          "messages": count_messages,
                                          "skipped": scan.skipped + orphans})
    return RebuildReport(len(scan.threads), count_messages, scan.skipped + orphans)
