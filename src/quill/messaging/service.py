"""Messaging rules. FHIR Communications are written first within the request's transaction
(the embedded store shares it; an external server gets idempotent PUTs with client ids),
so a failure leaves no projection rows behind."""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass, field
from datetime import datetime
from typing import NamedTuple

from sqlalchemy import select
from sqlalchemy.ext.asyncio import AsyncSession

from quill.access.policy import can_see_patient, ensure_can_see_patient
from quill.audit.service import Auditor
from quill.clock import Clock, IdSource
from quill.errors import Conflict, Forbidden, Invalid, NotFound
from quill.fhir.port import FhirStore, existing_patient
from quill.identity.caller import Caller
from quill.identity.levels import PermissionLevel, is_staff
from quill.identity.models import User
from quill.messaging import audience, membership
from quill.messaging import repository as repo
from quill.messaging.communications import write_message, write_root
from quill.messaging.models import (
    Conversation,
    ConversationParticipant,
    ConversationStatus,
    Message,
    ParticipantRole,
)
from quill.messaging.repository import (
    ConversationRecord,
    ConversationRow,
    MessageRow,
    ParticipantRow,
)
from quill.messaging.schemas import ConversationCreateIn, MessageIn, ParticipantIn

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
    # Those recipients who held a push subscription in the changing transaction.
    subscribed: tuple[int, ...] = ()


class ThreadSummary(NamedTuple):
    """A thread as a listing shows it to the caller (a named tuple, as the rows it holds)."""

    row: ConversationRow
    participants: list[ParticipantRow]
    can_write: bool


@dataclass(frozen=True)
class ThreadPage:
    threads: list[ThreadSummary]
    next_cursor: str | None


@dataclass(frozen=True)
class ThreadDetail:
    """A thread with all of its messages, as the caller sees it."""

    conversation: ConversationRecord
    participants: list[ParticipantRow]
    is_participant: bool
    can_write: bool
    messages: list[MessageRow]


@dataclass
class MessagingService:
    db: AsyncSession
    caller: Caller
    auditor: Auditor
    clock: Clock
    ids: IdSource
    fhir: FhirStore
    # Collected for the adapter to announce once the transaction has committed.
    notices: list[Notice] = field(default_factory=list)
    # Threads whose rows this service's transaction has locked and reloaded.
    _locked: set[int] = field(default_factory=set, init=False, repr=False)

    # ----- loading and permissions -------------------------------------------------

    async def conversation(self, conversation_id: int, *, lock: bool = False) -> Conversation:
        """A thread the caller may at least read; 404 otherwise (existence is not revealed).
        ``lock``: loaded locked for a write, which then need not lock it again (``_lock``)."""
        conversation = await repo.visible_conversation(self.db, self.caller, conversation_id,
                                                       lock=lock)
        if conversation is None:
            raise NotFound("Conversation not found")
        if lock:
            self._locked.add(conversation.id)
        return conversation

    def can_write(self, conversation: Conversation | ConversationRecord, is_participant: bool
                  ) -> bool:
        if not is_participant or conversation.status == ConversationStatus.CLOSED:
            return False
        if self.caller.level is PermissionLevel.PATIENT:
            return conversation.include_patient_as_participant
        return True

    async def _require_participant(self, conversation: Conversation) -> ConversationParticipant:
        mine = await membership.participant(self.db, conversation.id, self.caller.user_id)
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

    # ----- reads -------------------------------------------------------------------

    async def list_mine(self, *, status: ConversationStatus | None, patient_id: str | None,
                        limit: int, cursor: str | None) -> ThreadPage:
        """The caller's own threads, newest activity first."""
        # Threads the caller can no longer see (access revoked, staff-only) drop out.
        page = await repo.list_conversations(
            self.db, self.caller.user_id, participant_only=True, seen_by=self.caller,
            status=_status_value(status), patient_id=patient_id, limit=limit, cursor=cursor)
        return ThreadPage(await self._summaries(page.rows), page.next_cursor)

    async def list_for_patient(self, patient_id: str, *, status: ConversationStatus | None,
                               limit: int, cursor: str | None) -> ThreadPage:
        """Every thread about a patient the caller may see, participant or not; audited."""
        await ensure_can_see_patient(self.db, self.caller, patient_id)
        page = await repo.list_conversations(
            self.db, self.caller.user_id, participant_only=False, seen_by=self.caller,
            status=_status_value(status), patient_id=patient_id, limit=limit, cursor=cursor)
        await self.auditor.record("conversation.list", "Patient", patient_id,
                                  patient_id=patient_id)
        return ThreadPage(await self._summaries(page.rows), page.next_cursor)

    async def _summaries(self, rows: list[ConversationRow]) -> list[ThreadSummary]:
        grouped = await repo.participants_of(self.db, [r.conversation.id for r in rows])
        return [ThreadSummary(r, grouped[r.conversation.id],
                              self.can_write(r.conversation, r.is_participant))
                for r in rows]

    async def read(self, conversation_id: int) -> ThreadDetail:
        """One thread with its messages; audited as a read of the patient's record."""
        found = await repo.visible_thread(self.db, self.caller, conversation_id)
        if found is None:
            raise NotFound("Conversation not found")
        conversation, participants = found
        await self.auditor.record("conversation.read", "Conversation", str(conversation.id),
                                  patient_id=conversation.patient_id)
        return await self._detail(conversation, participants)

    async def detail(self, conversation: Conversation) -> ThreadDetail:
        """A thread just loaded (or changed) as ``read`` shows it."""
        return await self._detail(ConversationRecord.of(conversation),
                                  await self.participants(conversation.id))

    async def _detail(self, conversation: ConversationRecord,
                      participants: list[ParticipantRow]) -> ThreadDetail:
        is_participant = any(p.user_id == self.caller.user_id for p in participants)
        return ThreadDetail(conversation, participants, is_participant,
                            self.can_write(conversation, is_participant),
                            await repo.messages_of(self.db, conversation.id))

    async def summary(self, conversation: Conversation) -> ThreadSummary:
        """One thread as a listing would show it, without an unread count."""
        participants = await self.participants(conversation.id)
        is_participant = any(p.user_id == self.caller.user_id for p in participants)
        last = await self.db.get(Message, conversation.last_message_id) \
            if conversation.last_message_id else None
        row = ConversationRow(ConversationRecord.of(conversation), is_participant, 0,
                              last.body[:repo.PREVIEW_CHARS] if last else None,
                              last.created_at if last else None)
        return ThreadSummary(row, participants, self.can_write(conversation, is_participant))

    async def participants(self, conversation_id: int) -> list[ParticipantRow]:
        grouped = await repo.participants_of(self.db, [conversation_id])
        return grouped[conversation_id]

    async def participant_row(self, joined: ConversationParticipant) -> ParticipantRow:
        for row in await self.participants(joined.conversation_id):
            if row.user_id == joined.user_id:
                return row
        raise LookupError("participant vanished inside its own transaction")

    # ----- operations --------------------------------------------------------------

    async def create(self, body: ConversationCreateIn) -> Conversation:
        await ensure_can_see_patient(self.db, self.caller, body.patient_id)
        await existing_patient(self.fhir, body.patient_id)  # 404 when absent or deleted
        include_patient = body.include_patient_as_participant or (
            self.caller.fhir_patient_id == body.patient_id)
        others = await self._invitees(body, include_patient)
        now = self.clock.now()
        conversation = Conversation(
            fhir_conversation_id=self.ids.new_id(), patient_id=body.patient_id,
            subject=body.subject, status=ConversationStatus.NEW.value,
            include_patient_as_participant=include_patient, created_by=self.caller.user_id,
            created_at=now, updated_at=now,
        )
        self.db.add(conversation)
        await self.db.flush()
        membership.add_members(self.db, conversation.id, self.caller.user_id, others, now)
        first = Message(conversation_id=conversation.id,
                        fhir_communication_id=conversation.fhir_conversation_id,
                        sender_id=self.caller.user_id, body=body.initial_message,
                        amends_id=None, created_at=now)
        self.db.add(first)
        await self.db.flush()
        conversation.last_message_id = first.id
        await write_root(self.db, self.fhir, conversation, new=True)
        await self.auditor.record("conversation.create", "Conversation", str(conversation.id),
                                  patient_id=conversation.patient_id)
        await self._notify("message.created", conversation, first.id,
                           await audience.accounts(self.db, others))
        return conversation

    async def _invitees(self, body: ConversationCreateIn, include_patient: bool) -> list[int]:
        """Everyone but the caller who joins a new thread; each must see the patient."""
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
        return others

    async def post(self, conversation: Conversation, body: MessageIn) -> MessageRow:
        now = await self._lock(conversation)
        # Read once, under the lock: whether the caller takes part, the Communication's
        # recipients and who is told are all the thread's members as they are now.
        members = await audience.members(self.db, conversation.id)
        is_participant = any(m.user_id == self.caller.user_id for m in members)
        if conversation.status == ConversationStatus.CLOSED:
            raise Conflict("Conversation is closed")
        if not self.can_write(conversation, is_participant):
            raise Forbidden("You cannot write in this conversation")
        if body.amends_id is not None:
            await self._check_amends(conversation, body.amends_id)
        message = Message(conversation_id=conversation.id,
                          fhir_communication_id=self.ids.new_id(),
                          sender_id=self.caller.user_id, body=body.body,
                          amends_id=body.amends_id, created_at=now)
        self.db.add(message)
        await self.db.flush()
        await write_message(self.db, self.fhir, message, conversation,
                            [m.user_id for m in members])
        # A reply by someone else starts a new thread; any message reopens a resolved one.
        reopened = conversation.status == ConversationStatus.RESOLVED or (
            conversation.status == ConversationStatus.NEW
            and message.sender_id != conversation.created_by)
        if reopened:
            conversation.status = ConversationStatus.ACTIVE.value
        conversation.last_message_id = message.id
        # Only participants write (checked above): the sender has read their own message.
        await self._touch(conversation, now, reader=self.caller.user_id)
        if reopened:
            await write_root(self.db, self.fhir, conversation)
        await self.auditor.record("message.create", "Message", str(message.id),
                                  patient_id=conversation.patient_id)
        await self._notify("message.created", conversation, message.id,
                           [m for m in members if m.user_id != self.caller.user_id])
        return MessageRow(message, self.caller.username, self.caller.user.full_name)

    async def _check_amends(self, conversation: Conversation, amends_id: int) -> None:
        amended = await self.db.get(Message, amends_id)
        if (amended is None or amended.conversation_id != conversation.id
                or amended.sender_id != self.caller.user_id):
            raise Invalid("amends_id must be one of your own messages in this thread")

    async def set_status(self, conversation: Conversation, status: ConversationStatus) -> None:
        now = await self._lock(conversation)
        await self._require_participant(conversation)
        if status.value != conversation.status:
            if status.value not in ALLOWED_TRANSITIONS[conversation.status]:
                raise Invalid(f"Cannot change status from {conversation.status} to {status}")
            conversation.status = status.value
            await self._touch(conversation, now)
            await write_root(self.db, self.fhir, conversation)
            await self.auditor.record("conversation.status", "Conversation",
                                      str(conversation.id), patient_id=conversation.patient_id)
            await self._notify("conversation.updated", conversation, None,
                               await audience.members(self.db, conversation.id))

    async def add_participant(self, conversation: Conversation, body: ParticipantIn
                              ) -> ConversationParticipant:
        await self._require_participant(conversation)
        await self._user_who_may_see(body.user_id, conversation.patient_id)
        if await membership.participant(self.db, conversation.id, body.user_id) is not None:
            raise Conflict("User is already a participant")
        return await self._join(conversation, body.user_id, body.role)

    async def join(self, conversation: Conversation) -> ConversationParticipant:
        if not is_staff(self.caller.level):
            raise Forbidden("Only staff may join a conversation")
        existing = await membership.participant(self.db, conversation.id, self.caller.user_id)
        if existing is not None:
            return existing
        return await self._join(conversation, self.caller.user_id,
                                ParticipantRole.PARTICIPANT.value)

    async def _join(self, conversation: Conversation, user_id: int, role: str
                    ) -> ConversationParticipant:
        now = await self._lock(conversation)
        joined = ConversationParticipant(conversation_id=conversation.id, user_id=user_id,
                                         role=role, joined_at=now, last_read_at=None,
                                         conversation_updated_at=now)
        self.db.add(joined)
        await self.db.flush()
        await self._touch(conversation, now)
        await write_root(self.db, self.fhir, conversation)
        await self.auditor.record("conversation.participant", "Conversation",
                                  str(conversation.id), patient_id=conversation.patient_id)
        await self._notify("conversation.updated", conversation, None,
                           await audience.members(self.db, conversation.id))
        return joined

    async def _lock(self, conversation: Conversation) -> datetime:
        """Lock the thread's row, reload it, and only then read the time.

        Concurrent writers to one thread take turns here, so the message each inserts and
        the activity time it stamps follow commit order: the last to commit really is the
        newest, and never overwrites ``last_message_id``/``updated_at`` with older values.
        SQLite already serialises writers (BEGIN IMMEDIATE); there FOR UPDATE is not sent.
        The time never goes backwards within a thread, even if the clock does.
        A thread loaded with ``conversation(..., lock=True)`` is locked and fresh already.
        """
        if conversation.id not in self._locked:
            await self.db.refresh(conversation, with_for_update=True)
            self._locked.add(conversation.id)
        return max(self.clock.now(), conversation.updated_at)

    async def _touch(self, conversation: Conversation, now: datetime, *,
                     reader: int | None = None) -> None:
        """New activity: the thread (written by the flush the next statement starts, with
        the caller's other changes to it) and every participant's copy of its ordering
        key; ``reader``, a participant, has also read it now."""
        conversation.updated_at = now
        await membership.stamp_activity(self.db, conversation.id, now, reader=reader)

    async def mark_read(self, conversation: Conversation) -> None:
        mine = await self._require_participant(conversation)
        if not _has_unread(mine.last_read_at, conversation):
            return
        mine.last_read_at = self.clock.now()

    async def mark_shown_read(self, detail: ThreadDetail) -> None:
        """``mark_read`` for a thread just read with ``read``: its participant rows are
        already loaded, so a thread with nothing new costs no statement at all."""
        mine = next((p for p in detail.participants if p.user_id == self.caller.user_id), None)
        if mine is None:
            raise Forbidden("Only participants may do this")
        if not _has_unread(mine.last_read_at, detail.conversation):
            return
        await membership.set_last_read(self.db, detail.conversation.id, self.caller.user_id,
                                 self.clock.now())

    async def _notify(self, kind: str, conversation: Conversation, message_id: int | None,
                      recipients: Sequence[audience.Member]) -> None:
        """Queue a notice for those recipients who may see the thread at this moment.

        Asked here, in the transaction that makes the change, so a participant whose grant
        was revoked or who left the organisation gets neither the event nor the push.
        """
        await self.db.flush()
        heard = await audience.who_hears(self.db, conversation.id, recipients)
        if heard.recipients:
            self.notices.append(Notice(kind, conversation.id, message_id,
                                       tuple(heard.recipients), tuple(heard.subscribed)))


def _has_unread(last_read_at: datetime | None,
                conversation: Conversation | ConversationRecord) -> bool:
    """Unread means sent after last_read_at, and no message is newer than the thread's
    updated_at; so with nothing newer, marking read would change nothing and writes
    nothing (the thread page marks read on every view)."""
    return last_read_at is None or last_read_at < conversation.updated_at


def _status_value(status: ConversationStatus | None) -> str | None:
    return None if status is None else status.value
