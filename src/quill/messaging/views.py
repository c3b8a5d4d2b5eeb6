"""Shaping projection rows into the contract's response bodies."""

from __future__ import annotations

from sqlalchemy import select
from sqlalchemy.ext.asyncio import AsyncSession
from sqlalchemy.orm import aliased

from quill.identity.models import User
from quill.messaging.models import Conversation, ConversationParticipant, Message
from quill.messaging.repository import ConversationRow, ParticipantRow, participants_of
from quill.messaging.schemas import (
    ConversationDetailOut,
    ConversationOut,
    MessageOut,
    ParticipantOut,
)
from quill.messaging.service import MessagingService


def participant_out(row: ParticipantRow) -> ParticipantOut:
    return ParticipantOut(user_id=row.user_id, username=row.username,
                          display_name=row.display_name, role=row.role,
                          joined_at=row.joined_at)


async def participant_list(db: AsyncSession, conversation_id: int) -> list[ParticipantOut]:
    grouped = await participants_of(db, [conversation_id])
    return [participant_out(row) for row in grouped[conversation_id]]


async def joined_participant(db: AsyncSession, joined: ConversationParticipant
                             ) -> ParticipantOut:
    for row in await participant_list(db, joined.conversation_id):
        if row.user_id == joined.user_id:
            return row
    raise LookupError("participant vanished inside its own transaction")


def _base(service: MessagingService, conversation: Conversation,
          participants: list[ParticipantOut], is_participant: bool) -> dict[str, object]:
    return {
        "id": conversation.id, "fhir_conversation_id": conversation.fhir_conversation_id,
        "patient_id": conversation.patient_id, "subject": conversation.subject,
        "status": conversation.status, "created_at": conversation.created_at,
        "updated_at": conversation.updated_at, "participants": participants,
        "is_participant": is_participant,
        "can_write": service.can_write(conversation, is_participant),
        "include_patient_as_participant": conversation.include_patient_as_participant,
    }


async def conversation_list(service: MessagingService, rows: list[ConversationRow]
                            ) -> list[ConversationOut]:
    grouped = await participants_of(service.db, [r.conversation.id for r in rows])
    return [
        ConversationOut(
            **_base(service, r.conversation,
                    [participant_out(p) for p in grouped[r.conversation.id]],
                    r.is_participant),
            last_message_preview=r.last_message_preview,
            last_message_time=r.last_message_time, unread_count=r.unread_count,
        )
        for r in rows
    ]


async def single_conversation(service: MessagingService, conversation: Conversation
                              ) -> ConversationOut:
    participants = await participant_list(service.db, conversation.id)
    is_participant = any(p.user_id == service.caller.user_id for p in participants)
    last = await service.db.get(Message, conversation.last_message_id) \
        if conversation.last_message_id else None
    return ConversationOut(
        **_base(service, conversation, participants, is_participant),
        last_message_preview=last.body[:100] if last else None,
        last_message_time=last.created_at if last else None, unread_count=0,
    )


async def message_list(db: AsyncSession, conversation_id: int) -> list[MessageOut]:
    sender = aliased(User)
    rows = await db.execute(
        select(Message, sender.username, sender.full_name)
        .outerjoin(sender, sender.id == Message.sender_id)
        .where(Message.conversation_id == conversation_id)
        .order_by(Message.created_at, Message.id))
    return [message_out(m, username, full_name) for m, username, full_name in rows.all()]


def message_out(message: Message, username: str | None, full_name: str | None) -> MessageOut:
    return MessageOut(
        id=message.id, fhir_communication_id=message.fhir_communication_id,
        sender_id=message.sender_id, sender_username=username,
        sender_display_name=(full_name or username) if username else None,
        body=message.body, amends_id=message.amends_id,
        is_amendment=message.amends_id is not None, created_at=message.created_at,
    )


async def conversation_detail(service: MessagingService, conversation: Conversation
                              ) -> ConversationDetailOut:
    participants = await participant_list(service.db, conversation.id)
    is_participant = any(p.user_id == service.caller.user_id for p in participants)
    return ConversationDetailOut(
        **_base(service, conversation, participants, is_participant),
        messages=await message_list(service.db, conversation.id),
    )
