"""Shaping what the service read into the contract's response bodies. No queries here."""

from __future__ import annotations

from quill.messaging.repository import ConversationRecord, MessageRow, ParticipantRow
from quill.messaging.schemas import (
    ConversationDetailOut,
    ConversationListOut,
    ConversationOut,
    MessageOut,
    ParticipantOut,
)
from quill.messaging.service import ThreadDetail, ThreadPage, ThreadSummary


def participant_out(row: ParticipantRow) -> ParticipantOut:
    return ParticipantOut(user_id=row.user_id, username=row.username,
                          display_name=row.display_name, role=row.role,
                          joined_at=row.joined_at)


def participant_list(rows: list[ParticipantRow]) -> list[ParticipantOut]:
    return [participant_out(row) for row in rows]


def message_out(row: MessageRow) -> MessageOut:
    message, username = row.message, row.sender_username
    return MessageOut(
        id=message.id, fhir_communication_id=message.fhir_communication_id,
        sender_id=message.sender_id, sender_username=username,
        sender_display_name=(row.sender_full_name or username) if username else None,
        body=message.body, amends_id=message.amends_id,
        is_amendment=message.amends_id is not None, created_at=message.created_at,
    )


def _base(conversation: ConversationRecord, participants: list[ParticipantRow],
          is_participant: bool, can_write: bool) -> dict[str, object]:
    return {
        "id": conversation.id, "fhir_conversation_id": conversation.fhir_conversation_id,
        "patient_id": conversation.patient_id, "subject": conversation.subject,
        "status": conversation.status, "created_at": conversation.created_at,
        "updated_at": conversation.updated_at,
        "participants": participant_list(participants),
        "is_participant": is_participant, "can_write": can_write,
        "include_patient_as_participant": conversation.include_patient_as_participant,
    }


def conversation_out(thread: ThreadSummary) -> ConversationOut:
    row = thread.row
    return ConversationOut(
        **_base(row.conversation, thread.participants, row.is_participant, thread.can_write),
        last_message_preview=row.last_message_preview,
        last_message_time=row.last_message_time, unread_count=row.unread_count,
    )


def conversation_list(page: ThreadPage) -> ConversationListOut:
    return ConversationListOut(conversations=[conversation_out(t) for t in page.threads],
                               next_cursor=page.next_cursor)


def conversation_detail(thread: ThreadDetail) -> ConversationDetailOut:
    return ConversationDetailOut(
        **_base(thread.conversation, thread.participants, thread.is_participant,
                thread.can_write),
        messages=[message_out(row) for row in thread.messages],
    )
