"""Shaping what the service read into the contract's response bodies. No queries here.

Listings and thread reads are plain dicts with the fields of their response models, in the
models' order, which the router sends as they are (building the models only to dump them
was a third of a listing's time). The single-object bodies of the write routes keep their
models, built from the same fields.
"""

from __future__ import annotations

from typing import Any

from quill.messaging.repository import ConversationRecord, MessageRow, ParticipantRow
from quill.messaging.schemas import ConversationOut, MessageOut, ParticipantOut
from quill.messaging.service import ThreadDetail, ThreadPage, ThreadSummary

# A response body as plain values: a response model's fields, in its order.
JsonBody = dict[str, Any]


def _participant(row: ParticipantRow) -> JsonBody:
    return {"user_id": row.user_id, "username": row.username,
            "display_name": row.display_name, "role": row.role, "joined_at": row.joined_at}


def participant_out(row: ParticipantRow) -> ParticipantOut:
    return ParticipantOut(**_participant(row))


def participant_list(rows: list[ParticipantRow]) -> list[JsonBody]:
    return [_participant(row) for row in rows]


def _message(row: MessageRow) -> JsonBody:
    message, username = row.message, row.sender_username
    return {
        "id": message.id, "fhir_communication_id": message.fhir_communication_id,
        "sender_id": message.sender_id, "sender_username": username,
        "sender_display_name": (row.sender_full_name or username) if username else None,
        "body": message.body, "amends_id": message.amends_id,
        "is_amendment": message.amends_id is not None, "created_at": message.created_at,
    }


def message_out(row: MessageRow) -> MessageOut:
    return MessageOut(**_message(row))


def _base(conversation: ConversationRecord, participants: list[ParticipantRow],
          is_participant: bool, can_write: bool) -> JsonBody:
    return {
        "id": conversation.id, "fhir_conversation_id": conversation.fhir_conversation_id,
        "patient_id": conversation.patient_id, "subject": conversation.subject,
        "status": conversation.status, "created_at": conversation.created_at,
        "updated_at": conversation.updated_at,
        "participants": participant_list(participants),
        "is_participant": is_participant, "can_write": can_write,
        "include_patient_as_participant": conversation.include_patient_as_participant,
    }


def _summary(thread: ThreadSummary) -> JsonBody:
    row = thread.row
    body = _base(row.conversation, thread.participants, row.is_participant, thread.can_write)
    body["last_message_preview"] = row.last_message_preview
    body["last_message_time"] = row.last_message_time
    body["unread_count"] = row.unread_count
    return body


def conversation_out(thread: ThreadSummary) -> ConversationOut:
    return ConversationOut(**_summary(thread))


def conversation_list(page: ThreadPage) -> JsonBody:
    return {"conversations": [_summary(t) for t in page.threads],
            "next_cursor": page.next_cursor}


def conversation_detail(thread: ThreadDetail) -> JsonBody:
    body = _base(thread.conversation, thread.participants, thread.is_participant,
                 thread.can_write)
    body["messages"] = [_message(row) for row in thread.messages]
    return body
