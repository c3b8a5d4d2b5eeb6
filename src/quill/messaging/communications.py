"""Writing a thread's FHIR Communications from its projection rows.

The root Communication carries the thread (subject, status, participants); every other
message is a Communication of its own that points at the root.
"""

from __future__ import annotations

from collections.abc import Sequence

from sqlalchemy import select
from sqlalchemy.ext.asyncio import AsyncSession

from quill.fhir.port import FhirStore, version_of
from quill.messaging import fhir_mapping as fm
from quill.messaging.membership import participant_ids
from quill.messaging.models import Conversation, ConversationParticipant, Message


async def thread_record(db: AsyncSession, conversation: Conversation) -> fm.ThreadRecord:
    rows = (await db.execute(
        select(ConversationParticipant)
        .where(ConversationParticipant.conversation_id == conversation.id)
        .order_by(ConversationParticipant.id))).scalars().all()
    return fm.ThreadRecord(
        conversation_id=conversation.id, subject=conversation.subject,
        status=conversation.status,
        include_patient=conversation.include_patient_as_participant,
        participants=tuple(fm.ParticipantRecord(p.user_id, p.role, p.joined_at)
                           for p in rows),
        # Every caller has just stamped the thread's activity (creation or a state change).
        state_changed=conversation.updated_at,
    )


async def message_record(db: AsyncSession, message: Message, conversation: Conversation,
                         participants: Sequence[int] | None = None) -> fm.MessageRecord:
    """``participants``: the thread's participant ids, when the caller has them already."""
    amends_fhir_id = None
    if message.amends_id is not None:
        amended = await db.get(Message, message.amends_id)
        amends_fhir_id = amended.fhir_communication_id if amended else None
    root = conversation.fhir_conversation_id
    if participants is None:
        participants = await participant_ids(db, conversation.id)
    recipients = [u for u in participants if u != message.sender_id]
    return fm.MessageRecord(
        fhir_id=message.fhir_communication_id, message_id=message.id,
        patient_id=conversation.patient_id, sender_id=message.sender_id,
        recipient_ids=tuple(recipients), body=message.body, sent=message.created_at,
        root_fhir_id=None if message.fhir_communication_id == root else root,
        amends_fhir_id=amends_fhir_id,
    )


async def write_root(db: AsyncSession, fhir: FhirStore, conversation: Conversation, *,
                     new: bool = False) -> None:
    """Create or replace the thread's root Communication (the thread's first message)."""
    first = (await db.execute(
        select(Message).where(
            Message.fhir_communication_id == conversation.fhir_conversation_id)
    )).scalar_one()
    thread = await thread_record(db, conversation)
    # The thread's participants, as read for the record, are the first message's too.
    resource = fm.root_resource(await message_record(
        db, first, conversation, [p.user_id for p in thread.participants]), thread)
    expected = None
    if not new:
        current = await fhir.read("Communication", conversation.fhir_conversation_id)
        expected = version_of(current)
    await fhir.update(resource, expected_version=expected)


async def write_message(db: AsyncSession, fhir: FhirStore, message: Message,
                        conversation: Conversation, participants: Sequence[int]) -> None:
    """Create a reply's Communication, addressed to the thread's other participants."""
    await fhir.update(fm.message_resource(
        await message_record(db, message, conversation, participants)))
