"""Messaging rules. FHIR Communications are written first within the request's transaction
(the embedded store shares it; an external server gets idempotent PUTs with client ids),
so a failure leaves no projection rows behind."""

from __future__ import annotations

from dataclasses import dataclass, field
from datetime import datetime

from sqlalchemy import select, update
from sqlalchemy.ext.asyncio import AsyncSession

from quill.access.policy import can_see_patient, ensure_can_see_patient
from quill.audit.service import Auditor
from quill.errors import Conflict, Forbidden, Invalid, NotFound
from quill.fhir.port import FhirStore, version_of
from quill.identity.caller import Caller
from quill.identity.levels import PermissionLevel, is_staff
from quill.identity.models import User
from quill.messaging import fhir_mapping as fm
from quill.messaging.models import (
    Conversation,
    ConversationParticipant,
    ConversationStatus,
    Message,
    ParticipantRole,
)
from quill.messaging.schemas import ConversationCreateIn, MessageIn, ParticipantIn
from quill.runtime import Runtime

ALLOWED_TRANSITIONS: dict[str, frozenset[str]] = {
    ConversationStatus.NEW: frozenset({"active", "resolved", "closed"}),
    ConversationStatus.ACTIVE: frozenset({"resolved", "closed"}),
    ConversationStatus.RESOLVED: frozenset({"active", "closed"}),
    ConversationStatus.CLOSED: frozenset({"active"}),
}


@dataclass(frozen=True)
class Notice:
    """Something to tell others once the transaction has committed."""

    kind: str  # "message.created" | "conversation.updated"
    conversation_id: int
    message_id: int | None
    recipients: tuple[int, ...]


@dataclass
class MessagingService:
    db: AsyncSession
    runtime: Runtime
    caller: Caller
    auditor: Auditor
    notices: list[Notice] = field(default_factory=list)

    @property
    def store(self) -> FhirStore:
        return self.runtime.fhir.store(self.db)

    # ----- loading and permissions -------------------------------------------------

    async def conversation(self, conversation_id: int) -> Conversation:
        """A thread the caller may at least read; 404 otherwise (existence is not revealed)."""
        conversation = await self.db.get(Conversation, conversation_id)
        if conversation is None or not await can_see_patient(
            self.db, self.caller, conversation.patient_id
        ):
            raise NotFound("Conversation not found")
        return conversation

    async def participant(self, conversation_id: int, user_id: int
                          ) -> ConversationParticipant | None:
        return (await self.db.execute(
            select(ConversationParticipant).where(
                ConversationParticipant.conversation_id == conversation_id,
                ConversationParticipant.user_id == user_id)
        )).scalar_one_or_none()

    async def participant_ids(self, conversation_id: int) -> list[int]:
        rows = await self.db.execute(
            select(ConversationParticipant.user_id)
            .where(ConversationParticipant.conversation_id == conversation_id)
            .order_by(ConversationParticipant.id))
        return [int(uid) for uid in rows.scalars()]

    def can_write(self, conversation: Conversation, is_participant: bool) -> bool:
        if not is_participant or conversation.status == ConversationStatus.CLOSED:
            return False
        if self.caller.level is PermissionLevel.PATIENT:
            return conversation.include_patient_as_participant
        return True

    async def _require_participant(self, conversation: Conversation) -> ConversationParticipant:
        mine = await self.participant(conversation.id, self.caller.user_id)
        if mine is None:
            raise Forbidden("Only participants may do this")
        return mine

    async def _user_who_may_see(self, user_id: int, patient_id: str) -> User:
        user = await self.db.get(User, user_id)
        if user is None or not user.is_active or not await can_see_patient(
            self.db, Caller.of(user), patient_id
        ):
            raise Invalid(f"User {user_id} cannot access this patient")
        return user

    # ----- FHIR writes -------------------------------------------------------------

    async def _thread_record(self, conversation: Conversation) -> fm.ThreadRecord:
        rows = (await self.db.execute(
            select(ConversationParticipant)
            .where(ConversationParticipant.conversation_id == conversation.id)
            .order_by(ConversationParticipant.id))).scalars().all()
        return fm.ThreadRecord(
            conversation_id=conversation.id, subject=conversation.subject,
            status=conversation.status,
            include_patient=conversation.include_patient_as_participant,
            participants=tuple(fm.ParticipantRecord(p.user_id, p.role, p.joined_at)
                               for p in rows),
        )

    async def _message_record(self, message: Message, conversation: Conversation
                              ) -> fm.MessageRecord:
        amends_fhir_id = None
        if message.amends_id is not None:
            amended = await self.db.get(Message, message.amends_id)
            amends_fhir_id = amended.fhir_communication_id if amended else None
        root = conversation.fhir_conversation_id
        recipients = [u for u in await self.participant_ids(conversation.id)
                      if u != message.sender_id]
        return fm.MessageRecord(
            fhir_id=message.fhir_communication_id, message_id=message.id,
            patient_id=conversation.patient_id, sender_id=message.sender_id,
            recipient_ids=tuple(recipients), body=message.body, sent=message.created_at,
            root_fhir_id=None if message.fhir_communication_id == root else root,
            amends_fhir_id=amends_fhir_id,
        )

    async def _write_root(self, conversation: Conversation, *, new: bool = False) -> None:
        first = (await self.db.execute(
            select(Message).where(
                Message.fhir_communication_id == conversation.fhir_conversation_id)
        )).scalar_one()
        resource = fm.root_resource(await self._message_record(first, conversation),
                                    await self._thread_record(conversation))
        expected = None
        if not new:
            current = await self.store.read("Communication", conversation.fhir_conversation_id)
            expected = version_of(current)
        await self.store.update(resource, expected_version=expected)

    # ----- operations --------------------------------------------------------------

    async def create(self, body: ConversationCreateIn) -> Conversation:
        await ensure_can_see_patient(self.db, self.caller, body.patient_id)
        await self.store.read("Patient", body.patient_id)  # NotFound when it does not exist
        include_patient = body.include_patient_as_participant or (
            self.caller.fhir_patient_id == body.patient_id)
        others = [uid for uid in dict.fromkeys(body.participant_ids)
                  if uid != self.caller.user_id]
        for uid in others:
            await self._user_who_may_see(uid, body.patient_id)
        if include_patient:
            linked = (await self.db.execute(
                select(User.id).where(User.fhir_patient_id == body.patient_id,
                                      User.is_active.is_(True)))).scalar_one_or_none()
            if linked is not None and linked != self.caller.user_id and linked not in others:
                others.append(int(linked))
        now = self.runtime.clock.now()
        conversation = Conversation(
            fhir_conversation_id=self.runtime.ids.new_id(), patient_id=body.patient_id,
            subject=body.subject, status=ConversationStatus.NEW.value,
            include_patient_as_participant=include_patient, created_by=self.caller.user_id,
            created_at=now, updated_at=now,
        )
        self.db.add(conversation)
        await self.db.flush()
        self.db.add(ConversationParticipant(
            conversation_id=conversation.id, user_id=self.caller.user_id,
            role=ParticipantRole.INITIATOR.value, joined_at=now, last_read_at=now,
            conversation_updated_at=now))
        for uid in others:
            self.db.add(ConversationParticipant(
                conversation_id=conversation.id, user_id=uid,
                role=ParticipantRole.PARTICIPANT.value, joined_at=now, last_read_at=None,
                conversation_updated_at=now))
        first = Message(conversation_id=conversation.id,
                        fhir_communication_id=conversation.fhir_conversation_id,
                        sender_id=self.caller.user_id, body=body.initial_message,
                        amends_id=None, created_at=now)
        self.db.add(first)
        await self.db.flush()
        conversation.last_message_id = first.id
        await self._write_root(conversation, new=True)
        await self.auditor.record("conversation.create", "Conversation", str(conversation.id),
                                  patient_id=conversation.patient_id)
        self._notify("message.created", conversation, first.id, others)
        return conversation

    async def post(self, conversation: Conversation, body: MessageIn) -> Message:
        mine = await self.participant(conversation.id, self.caller.user_id)
        if conversation.status == ConversationStatus.CLOSED:
            raise Conflict("Conversation is closed")
        if not self.can_write(conversation, mine is not None):
            raise Forbidden("You cannot write in this conversation")
        if body.amends_id is not None:
            amended = await self.db.get(Message, body.amends_id)
            if (amended is None or amended.conversation_id != conversation.id
                    or amended.sender_id != self.caller.user_id):
                raise Invalid("amends_id must be one of your own messages in this thread")
        now = self.runtime.clock.now()
        message = Message(conversation_id=conversation.id,
                          fhir_communication_id=self.runtime.ids.new_id(),
                          sender_id=self.caller.user_id, body=body.body,
                          amends_id=body.amends_id, created_at=now)
        self.db.add(message)
        await self.db.flush()
        await self.store.update(fm.message_resource(
            await self._message_record(message, conversation)))
        # A reply by someone else starts a new thread; any message reopens a resolved one.
        reopened = conversation.status == ConversationStatus.RESOLVED or (
            conversation.status == ConversationStatus.NEW
            and message.sender_id != conversation.created_by)
        if reopened:
            conversation.status = ConversationStatus.ACTIVE.value
        await self._touch(conversation, now)
        conversation.last_message_id = message.id
        if mine is not None:
            mine.last_read_at = now
        if reopened:
            await self._write_root(conversation)
        await self.auditor.record("message.create", "Message", str(message.id),
                                  patient_id=conversation.patient_id)
        recipients = [u for u in await self.participant_ids(conversation.id)
                      if u != self.caller.user_id]
        self._notify("message.created", conversation, message.id, recipients)
        return message

    async def set_status(self, conversation: Conversation, status: ConversationStatus) -> None:
        await self._require_participant(conversation)
        if status.value != conversation.status:
            if status.value not in ALLOWED_TRANSITIONS[conversation.status]:
                raise Invalid(f"Cannot change status from {conversation.status} to {status}")
            conversation.status = status.value
            await self._touch(conversation, self.runtime.clock.now())
            await self._write_root(conversation)
            await self.auditor.record("conversation.status", "Conversation",
                                      str(conversation.id), patient_id=conversation.patient_id)
            self._notify("conversation.updated", conversation, None,
                         await self.participant_ids(conversation.id))

    async def add_participant(self, conversation: Conversation, body: ParticipantIn
                              ) -> ConversationParticipant:
        await self._require_participant(conversation)
        await self._user_who_may_see(body.user_id, conversation.patient_id)
        if await self.participant(conversation.id, body.user_id) is not None:
            raise Conflict("User is already a participant")
        return await self._join(conversation, body.user_id, body.role)

    async def join(self, conversation: Conversation) -> ConversationParticipant:
        if not is_staff(self.caller.level):
            raise Forbidden("Only staff may join a conversation")
        existing = await self.participant(conversation.id, self.caller.user_id)
        if existing is not None:
            return existing
        return await self._join(conversation, self.caller.user_id,
                                ParticipantRole.PARTICIPANT.value)

    async def _join(self, conversation: Conversation, user_id: int, role: str
                    ) -> ConversationParticipant:
        now = self.runtime.clock.now()
        joined = ConversationParticipant(conversation_id=conversation.id, user_id=user_id,
                                         role=role, joined_at=now, last_read_at=None,
                                         conversation_updated_at=now)
        self.db.add(joined)
        await self.db.flush()
        await self._touch(conversation, now)
        await self._write_root(conversation)
        await self.auditor.record("conversation.participant", "Conversation",
                                  str(conversation.id), patient_id=conversation.patient_id)
        self._notify("conversation.updated", conversation, None,
                     await self.participant_ids(conversation.id))
        return joined

    async def _touch(self, conversation: Conversation, now: datetime) -> None:
        """New activity: the thread and every participant's copy of its ordering key."""
        conversation.updated_at = now
        await self.db.execute(
            update(ConversationParticipant)
            .where(ConversationParticipant.conversation_id == conversation.id)
            .values(conversation_updated_at=now))

    async def mark_read(self, conversation: Conversation) -> None:
        mine = await self._require_participant(conversation)
        mine.last_read_at = self.runtime.clock.now()

    def _notify(self, kind: str, conversation: Conversation, message_id: int | None,
                recipients: list[int]) -> None:
        self.notices.append(Notice(kind, conversation.id, message_id, tuple(recipients)))
