"""Request and response bodies for messaging."""

from __future__ import annotations

from datetime import datetime
from typing import Literal

from pydantic import BaseModel, ConfigDict, Field

from quill.db.keyset import DbId
from quill.messaging.models import ConversationStatus

MAX_BODY = 10_000
MAX_SUBJECT = 300


class StrictBody(BaseModel):
    model_config = ConfigDict(extra="forbid")


class ConversationCreateIn(StrictBody):
    patient_id: str = Field(min_length=1, max_length=64)
    subject: str | None = Field(default=None, max_length=MAX_SUBJECT)
    participant_ids: list[DbId] = Field(default_factory=list, max_length=50)
    initial_message: str = Field(min_length=1, max_length=MAX_BODY)
    include_patient_as_participant: bool = False


class StatusUpdateIn(StrictBody):
    status: ConversationStatus


class MessageIn(StrictBody):
    body: str = Field(min_length=1, max_length=MAX_BODY)
    amends_id: DbId | None = None


class ParticipantIn(StrictBody):
    user_id: DbId
    role: Literal["participant", "tagged"] = "participant"


class ParticipantOut(BaseModel):
    user_id: int
    username: str
    display_name: str
    role: str
    joined_at: datetime


class MessageOut(BaseModel):
    id: int
    fhir_communication_id: str
    sender_id: int | None
    sender_username: str | None
    sender_display_name: str | None
    body: str
    amends_id: int | None
    is_amendment: bool
    created_at: datetime


class ConversationBase(BaseModel):
    id: int
    fhir_conversation_id: str
    patient_id: str
    subject: str | None
    status: str
    created_at: datetime
    updated_at: datetime
    participants: list[ParticipantOut]
    is_participant: bool
    can_write: bool
    include_patient_as_participant: bool


class ConversationOut(ConversationBase):
    last_message_preview: str | None
    last_message_time: datetime | None
    unread_count: int


class ConversationDetailOut(ConversationBase):
    messages: list[MessageOut]


class ConversationListOut(BaseModel):
    conversations: list[ConversationOut]
    next_cursor: str | None


class OkOut(BaseModel):
    ok: bool
