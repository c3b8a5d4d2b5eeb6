"""Queries over the projection. Listing counts and previews are computed in SQL.

Reads that change nothing select plain columns into named tuples (no ORM entities, no
identity map), with statements built once per user and shape and run with bound values:
building a listing's statement cost more than running it. Writes load ORM entities.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass
from datetime import UTC, datetime
from functools import lru_cache
from typing import Any, NamedTuple

from sqlalchemy import (
    ColumnElement,
    Integer,
    Select,
    Table,
    and_,
    bindparam,
    false,
    func,
    literal,
    not_,
    or_,
    select,
    true,
)
from sqlalchemy.ext.asyncio import AsyncSession
from sqlalchemy.orm import aliased

from quill.access.policy import patient_rule
from quill.db.keyset import decode_values, encode_values
from quill.identity.caller import Caller
from quill.identity.levels import PermissionLevel, is_staff
from quill.identity.models import User
from quill.messaging.models import (
    Conversation,
    ConversationParticipant,
    Message,
)

EPOCH = datetime(1970, 1, 1, tzinfo=UTC)
PREVIEW_CHARS = 100

# The tables themselves, for the plain-column reads.
THREADS: Table = Conversation.__table__  # type: ignore[assignment]  # a declarative Table
MEMBERS: Table = ConversationParticipant.__table__  # type: ignore[assignment]
MESSAGES: Table = Message.__table__  # type: ignore[assignment]
USERS: Table = User.__table__  # type: ignore[assignment]


# What reads return are named tuples: immutable like the frozen dataclasses elsewhere, but
# made without a setattr per field and as one object each (a dataclass also has its dict);
# a 200-thread listing makes over a thousand of them.
class ConversationRecord(NamedTuple):
    """A thread's own columns as plain values: what reads show, never written back."""

    id: int
    fhir_conversation_id: str
    patient_id: str
    subject: str | None
    status: str
    include_patient_as_participant: bool
    created_at: datetime
    updated_at: datetime
    last_message_id: int | None

    @classmethod
    def of(cls, conversation: Conversation) -> ConversationRecord:
        """The values of a loaded (perhaps just changed) thread."""
        return cls(conversation.id, conversation.fhir_conversation_id,
                   conversation.patient_id, conversation.subject, conversation.status,
                   conversation.include_patient_as_participant, conversation.created_at,
                   conversation.updated_at, conversation.last_message_id)


# In ConversationRecord's field order: a row's first columns are the record.
RECORD_COLUMNS = (THREADS.c.id, THREADS.c.fhir_conversation_id, THREADS.c.patient_id,
                  THREADS.c.subject, THREADS.c.status,
                  THREADS.c.include_patient_as_participant, THREADS.c.created_at,
                  THREADS.c.updated_at, THREADS.c.last_message_id)
RECORD_WIDTH = len(RECORD_COLUMNS)


class MessageRecord(NamedTuple):
    """A message's columns as plain values."""

    id: int
    fhir_communication_id: str
    sender_id: int | None
    body: str
    amends_id: int | None
    created_at: datetime


class ConversationRow(NamedTuple):
    conversation: ConversationRecord
    is_participant: bool
    unread_count: int
    last_message_preview: str | None
    last_message_time: datetime | None


class ParticipantRow(NamedTuple):
    conversation_id: int
    user_id: int
    username: str
    display_name: str
    role: str
    joined_at: datetime
    last_read_at: datetime | None


class MessageRow(NamedTuple):
    # The entity itself right after a post; plain values when a thread is read.
    message: Message | MessageRecord
    sender_username: str | None
    sender_full_name: str | None


@dataclass(frozen=True)
class ConversationPage:
    rows: list[ConversationRow]
    next_cursor: str | None


# Module-level aliases: immutable constructs, shared by every statement.
P = ConversationParticipant
# Its own alias: inside a listing that walks the participant rows, an unaliased probe
# would correlate with the outer query's rows instead of looking up the caller's own.
MEMBER = aliased(ConversationParticipant, name="member")
MINE = MEMBERS.alias("mine")
LAST = MESSAGES.alias("last_message")
SENDER = USERS.alias("sender")

# Who asks, as far as the visibility rule cares: level, user id, own patient record.
Viewer = tuple[PermissionLevel, int, str | None]


def viewer_of(caller: Caller) -> Viewer:
    return caller.level, caller.user_id, caller.fhir_patient_id


def thread_visibility(caller: Caller) -> ColumnElement[bool] | None:
    """The one rule for which threads a caller may see; None means every thread.

    Staff and above see every thread about a patient they may see. Anyone else (patient
    users, relatives, outside clinicians) sees a thread about their own record only when it
    includes the patient, and a thread about anyone else only when they take part in it:
    the staff's own discussion is never theirs to read. Reads, lists, posts and live events
    all ask this rule.
    """
    return visibility_rule(*viewer_of(caller))


# Built once per user and reused by every statement that asks: constructing these EXISTS
# clauses was an eighth of a thread listing's time. The clause is SQL evaluated when a
# statement runs, so a reused one still follows grants and memberships as they change.
@lru_cache(maxsize=4096)
def visibility_rule(level: PermissionLevel, user_id: int, fhir_patient_id: str | None
                       ) -> ColumnElement[bool] | None:
    sees_patient = patient_rule(level, user_id, fhir_patient_id, Conversation.patient_id)
    if is_staff(level):
        return sees_patient
    takes_part = select(literal(1)).where(
        MEMBER.conversation_id == Conversation.id, MEMBER.user_id == user_id).exists()
    own: ColumnElement[bool] = (Conversation.patient_id == fhir_patient_id
                                if fhir_patient_id else false())
    allowed = or_(and_(own, Conversation.include_patient_as_participant.is_(True)),
                  and_(not_(own), takes_part))
    return allowed if sees_patient is None else and_(sees_patient, allowed)


def or_everything(rule: ColumnElement[bool] | None) -> ColumnElement[bool]:
    return true() if rule is None else rule


async def visible_conversation(db: AsyncSession, caller: Caller, conversation_id: int, *,
                               lock: bool = False) -> Conversation | None:
    """The thread's entity, for changing it; None when the caller may not see it.
    ``lock``: also lock the row (FOR UPDATE) and load its latest values, for a write."""
    query = select(Conversation).where(Conversation.id == conversation_id)
    rule = thread_visibility(caller)
    if rule is not None:
        query = query.where(rule)
    if lock:
        query = query.with_for_update().execution_options(populate_existing=True)
    return (await db.execute(query)).scalar_one_or_none()


PARTICIPANT_COLUMNS = (MEMBERS.c.conversation_id, MEMBERS.c.user_id, USERS.c.username,
                       USERS.c.full_name, MEMBERS.c.role, MEMBERS.c.joined_at,
                       MEMBERS.c.last_read_at)


def _participant(conversation_id: int, user_id: int, username: str, full_name: str | None,
                 role: str, joined_at: datetime, last_read_at: datetime | None
                 ) -> ParticipantRow:
    return ParticipantRow(conversation_id, user_id, username, full_name or username, role,
                          joined_at, last_read_at)


# Per user, like the rule it holds (about 13 KB each): a user it no longer holds pays one
# build (a millisecond) on their next read.
@lru_cache(maxsize=1024)
def _thread_with_participants(viewer: Viewer) -> Select[Any]:
    # Flat outer joins: SQLite would materialise a nested (participants JOIN users) whole.
    # A participant's user always exists (the row is deleted with the user).
    query = (select(*RECORD_COLUMNS, *PARTICIPANT_COLUMNS)
             .select_from(THREADS
                          .outerjoin(MEMBERS, MEMBERS.c.conversation_id == THREADS.c.id)
                          .outerjoin(USERS, USERS.c.id == MEMBERS.c.user_id))
             .where(THREADS.c.id == bindparam("conversation_id", type_=Integer)))
    rule = visibility_rule(*viewer)
    if rule is not None:
        query = query.where(rule)
    return query.order_by(MEMBERS.c.id)


async def visible_thread(db: AsyncSession, caller: Caller, conversation_id: int
                         ) -> tuple[ConversationRecord, list[ParticipantRow]] | None:
    """A thread the caller may see and its participants, in one statement; else None."""
    rows = (await db.execute(_thread_with_participants(viewer_of(caller)),
                             {"conversation_id": conversation_id})).all()
    if not rows:
        return None
    participants = [_participant(*row[RECORD_WIDTH:]) for row in rows
                    if row[RECORD_WIDTH + 1] is not None]
    return ConversationRecord(*rows[0][:RECORD_WIDTH]), participants


def _page_ids(user_id: int, participant_only: bool, filters: Sequence[ColumnElement[bool]],
              after_cursor: bool) -> Select[Any]:
    if participant_only:
        updated, ident = MEMBERS.c.conversation_updated_at, MEMBERS.c.conversation_id
        query = (select(ident.label("id"))
                 .select_from(MEMBERS.join(THREADS, THREADS.c.id == ident))
                 .where(MEMBERS.c.user_id == user_id))
    else:
        updated, ident = THREADS.c.updated_at, THREADS.c.id
        query = select(ident)
    query = query.where(*filters)
    if after_cursor:
        after_updated = bindparam("after_updated", type_=updated.type)
        query = query.where(or_(updated < after_updated, and_(
            updated == after_updated, ident < bindparam("after_id", type_=Integer))))
    return (query.order_by(updated.desc(), ident.desc())
            .limit(bindparam("page_size", type_=Integer)))


def _page_values(cursor: str | None, limit: int) -> dict[str, Any]:
    values: dict[str, Any] = {"page_size": limit + 1}
    if cursor:
        values["after_updated"], values["after_id"] = decode_values(cursor, datetime, int)
    return values


def page_ids(user_id: int, participant_only: bool, filters: Sequence[ColumnElement[bool]],
             cursor: str | None, limit: int) -> Select[Any]:
    """The page's thread ids first, so counts and previews are computed for it alone.

    A participant's threads come from the participant rows' copy of the ordering key
    (index user_id, conversation_updated_at, conversation_id): the database walks that
    index newest first and stops after limit + 1 rows that pass the filters, so the page
    costs the same whether the user is in 100 threads or 100,000. Otherwise (one
    patient's threads) the ``(patient_id, updated_at, id)`` index of conversations serves.
    """
    return _page_ids(user_id, participant_only, filters, bool(cursor)).params(
        _page_values(cursor, limit))


# One statement per user and shape (which filters, whether after a cursor), reused with
# the page's values bound: built per request, it cost more than the database's work. About
# 40 KB each, so the recently active users' shapes are kept, not everyone's.
@lru_cache(maxsize=256)
def _listing(user_id: int, participant_only: bool, viewer: Viewer | None, by_status: bool,
             by_patient: bool, after_cursor: bool) -> Select[Any]:
    rule = None if viewer is None else visibility_rule(*viewer)
    filters = [] if rule is None else [rule]
    if by_status:
        filters.append(THREADS.c.status == bindparam("status", type_=THREADS.c.status.type))
    if by_patient:
        filters.append(THREADS.c.patient_id == bindparam("patient_id",
                                                         type_=THREADS.c.patient_id.type))
    page = _page_ids(user_id, participant_only, filters, after_cursor).subquery()
    unread = (select(func.count(MESSAGES.c.id))
              .where(MESSAGES.c.conversation_id == THREADS.c.id,
                     MESSAGES.c.created_at > func.coalesce(MINE.c.last_read_at, EPOCH),
                     func.coalesce(MESSAGES.c.sender_id, 0) != user_id)
              .scalar_subquery())
    return (
        select(*RECORD_COLUMNS, MINE.c.id.is_not(None).label("is_participant"),
               unread.label("unread"), func.substr(LAST.c.body, 1, PREVIEW_CHARS),
               LAST.c.created_at)
        .select_from(
            THREADS.join(page, page.c.id == THREADS.c.id)
            .outerjoin(MINE, and_(MINE.c.conversation_id == THREADS.c.id,
                                  MINE.c.user_id == user_id))
            .outerjoin(LAST, LAST.c.id == THREADS.c.last_message_id))
        .order_by(THREADS.c.updated_at.desc(), THREADS.c.id.desc())
    )


async def list_conversations(
    db: AsyncSession,
    user_id: int,
    *,
    participant_only: bool,
    seen_by: Caller | None = None,
    status: str | None = None,
    patient_id: str | None = None,
    limit: int,
    cursor: str | None,
) -> ConversationPage:
    """Threads by latest activity (newest first), keyset-paged on (updated_at, id).

    ``user_id``'s own threads (``participant_only``) or every thread, with their
    participation and unread counts, narrowed to what ``seen_by`` may see (None: no rule,
    for callers that decided access already), a status and a patient.
    """
    viewer = None if seen_by is None else viewer_of(seen_by)
    statement = _listing(user_id, participant_only, viewer, status is not None,
                         patient_id is not None, bool(cursor))
    values = _page_values(cursor, limit)
    if status is not None:
        values["status"] = status
    if patient_id is not None:
        values["patient_id"] = patient_id
    result = (await db.execute(statement, values)).all()
    rows = [
        ConversationRow(ConversationRecord(*record), bool(is_participant),
                        int(unread or 0) if is_participant else 0, preview, last_time)
        for *record, is_participant, unread, preview, last_time in result[:limit]
    ]
    next_cursor = None
    if len(result) > limit:
        tail = rows[-1].conversation
        next_cursor = encode_values(tail.updated_at, tail.id)
    return ConversationPage(rows, next_cursor)


_PARTICIPANTS = (select(*PARTICIPANT_COLUMNS)
                 .select_from(MEMBERS.join(USERS, USERS.c.id == MEMBERS.c.user_id))
                 .where(MEMBERS.c.conversation_id.in_(bindparam("conversation_ids",
                                                               expanding=True)))
                 .order_by(MEMBERS.c.conversation_id, MEMBERS.c.id))


async def participants_of(
    db: AsyncSession, conversation_ids: Sequence[int]
) -> dict[int, list[ParticipantRow]]:
    """Participants of several threads in one statement."""
    grouped: dict[int, list[ParticipantRow]] = {cid: [] for cid in conversation_ids}
    if not conversation_ids:
        return grouped
    for row in (await db.execute(_PARTICIPANTS,
                                 {"conversation_ids": list(conversation_ids)})).all():
        grouped[row[0]].append(_participant(*row))
    return grouped


_MESSAGES = (select(MESSAGES.c.id, MESSAGES.c.fhir_communication_id, MESSAGES.c.sender_id,
                    MESSAGES.c.body, MESSAGES.c.amends_id, MESSAGES.c.created_at,
                    SENDER.c.username, SENDER.c.full_name)
             .select_from(MESSAGES.outerjoin(SENDER, SENDER.c.id == MESSAGES.c.sender_id))
             .where(MESSAGES.c.conversation_id == bindparam("conversation_id", type_=Integer))
             .order_by(MESSAGES.c.created_at, MESSAGES.c.id))


async def messages_of(db: AsyncSession, conversation_id: int) -> list[MessageRow]:
    """A thread's messages, oldest first, with their senders' names."""
    rows = await db.execute(_MESSAGES, {"conversation_id": conversation_id})
    return [MessageRow(MessageRecord(*message), username, full_name)
            for *message, username, full_name in rows.all()]
