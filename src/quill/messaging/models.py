"""SQL projection of the FHIR Communications: threads, participants, messages.

FHIR is the source of truth; these tables exist for fast listing and unread counts and
can be rebuilt from FHIR (`quill rebuild-projection`). Only ``last_read_at`` is
projection-only state.
"""

from __future__ import annotations

from datetime import datetime
from enum import StrEnum

from sqlalchemy import Boolean, ForeignKey, Index, Integer, String, Text, UniqueConstraint
from sqlalchemy.orm import Mapped, mapped_column

from quill.db.base import Base


class ConversationStatus(StrEnum):
    NEW = "new"
    ACTIVE = "active"
    RESOLVED = "resolved"
    CLOSED = "closed"


class ParticipantRole(StrEnum):
    INITIATOR = "initiator"
    PARTICIPANT = "participant"
    TAGGED = "tagged"


class Conversation(Base):
    __tablename__ = "conversations"
    __table_args__ = (
        Index("ix_conversations_patient_activity", "patient_id", "updated_at", "id"),
    )

    id: Mapped[int] = mapped_column(Integer, primary_key=True)
    # Id of the thread's first Communication, which also carries status and subject.
    fhir_conversation_id: Mapped[str] = mapped_column(String(64), unique=True)
    patient_id: Mapped[str] = mapped_column(String(64))
    subject: Mapped[str | None] = mapped_column(String(300))
    status: Mapped[str] = mapped_column(String(16), default=ConversationStatus.NEW.value)
    include_patient_as_participant: Mapped[bool] = mapped_column(Boolean, default=False)
    created_by: Mapped[int | None] = mapped_column(ForeignKey("users.id", ondelete="SET NULL"))
    created_at: Mapped[datetime]
    # Latest activity; listing orders by (updated_at, id).
    updated_at: Mapped[datetime]
    last_message_id: Mapped[int | None] = mapped_column(Integer)


class ConversationParticipant(Base):
    __tablename__ = "conversation_participants"
    __table_args__ = (
        UniqueConstraint("conversation_id", "user_id"),
        # A user's threads by latest activity: the listing walks this index newest first
        # and stops after one page, however many threads the user is in.
        Index("ix_conversation_participants_user_activity",
              "user_id", "conversation_updated_at", "conversation_id"),
    )

    id: Mapped[int] = mapped_column(Integer, primary_key=True)
    conversation_id: Mapped[int] = mapped_column(
        ForeignKey("conversations.id", ondelete="CASCADE"))
    user_id: Mapped[int] = mapped_column(ForeignKey("users.id", ondelete="CASCADE"))
    role: Mapped[str] = mapped_column(String(16))
    joined_at: Mapped[datetime]
    last_read_at: Mapped[datetime | None]
    # A copy of the thread's ``conversations.updated_at`` (the listing's ordering key), set
    # in the same transaction wherever that changes (messaging.service, rebuild).
    conversation_updated_at: Mapped[datetime]


class Message(Base):
    __tablename__ = "messages"
    __table_args__ = (
        Index("ix_messages_conversation_created", "conversation_id", "created_at", "id"),
        # Foreign keys with ON DELETE actions need an index, or every delete scans messages.
        Index("ix_messages_amends_id", "amends_id"),
        Index("ix_messages_sender_id", "sender_id"),
    )

    id: Mapped[int] = mapped_column(Integer, primary_key=True)
    conversation_id: Mapped[int] = mapped_column(
        ForeignKey("conversations.id", ondelete="CASCADE"))
    fhir_communication_id: Mapped[str] = mapped_column(String(64), unique=True)
    sender_id: Mapped[int | None] = mapped_column(ForeignKey("users.id", ondelete="SET NULL"))
    body: Mapped[str] = mapped_column(Text)
    amends_id: Mapped[int | None] = mapped_column(
        ForeignKey("messages.id", ondelete="SET NULL"))
    created_at: Mapped[datetime]
