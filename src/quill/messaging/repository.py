"""Queries over the projection. Listing counts and previews are computed in SQL."""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass
from datetime import UTC, datetime
from functools import lru_cache
from typing import Any

from sqlalchemy import (
    ColumnElement,
    Select,
    Table,
    and_,
    bindparam,
    case,
    false,
    func,
    literal,
    not_,
    or_,
    select,
    true,
    update,
)
from sqlalchemy.ext.asyncio import AsyncSession
from sqlalchemy.orm import aliased

from quill.access.policy import patient_rule
from quill.db.keyset import decode_values, encode_values
from quill.identity.caller import Caller
from quill.identity.levels import PermissionLevel, is_staff, parse_level
from quill.identity.models import User
from quill.messaging.models import (
    Conversation,
    ConversationParticipant,
    Message,
    ParticipantRole,
)
from quill.push.models import PushSubscription

EPOCH = datetime(1970, 1, 1, tzinfo=UTC)
PREVIEW_CHARS = 100


@dataclass(frozen=True)
class ConversationRow:
    conversation: Conversation
    is_participant: bool
    unread_count: int
    last_message_preview: str | None
    last_message_time: datetime | None


@dataclass(frozen=True)
class ParticipantRow:
    conversation_id: int
    user_id: int
    username: str
    display_name: str
    role: str
    joined_at: datetime
    last_read_at: datetime | None


@dataclass(frozen=True)
class MessageRow:
    message: Message
    sender_username: str | None
    sender_full_name: str | None


@dataclass(frozen=True)
class ConversationPage:
    rows: list[ConversationRow]
    next_cursor: str | None


def _unread_count(user_id: int, last_read: Any) -> Any:
    return (
        select(func.count(Message.id))
        .where(
            Message.conversation_id == Conversation.id,
            Message.created_at > func.coalesce(last_read, EPOCH),
            func.coalesce(Message.sender_id, 0) != user_id,
        )
        .scalar_subquery()
    )


# Module-level aliases: immutable constructs, shared by every statement.
MINE = aliased(ConversationParticipant, name="mine")
LAST = aliased(Message, name="last_message")
P = ConversationParticipant
# An alias built per call cost more than the rest of a thread read: adapting the entity's
# columns to a fresh alias is a walk over the mapper on every request.
SENDER = aliased(User, name="sender")


# Its own alias: inside a listing that walks the participant rows, an unaliased probe
# would correlate with the outer query's rows instead of looking up the caller's own.
MEMBER = aliased(ConversationParticipant, name="member")


def thread_visibility(caller: Caller) -> ColumnElement[bool] | None:
    """The one rule for which threads a caller may see; None means every thread.

    Staff and above see every thread about a patient they may see. Anyone else (patient
    users, relatives, outside clinicians) sees a thread about their own record only when it
    includes the patient, and a thread about anyone else only when they take part in it:
    the staff's own discussion is never theirs to read. Reads, lists, posts and live events
    all ask this rule.
    """
    return _thread_visibility(caller.level, caller.user_id, caller.fhir_patient_id)


# Built once per user and reused by every statement that asks: constructing these EXISTS
# clauses was an eighth of a thread listing's time. The clause is SQL evaluated when a
# statement runs, so a reused one still follows grants and memberships as they change.
@lru_cache(maxsize=4096)
def _thread_visibility(level: PermissionLevel, user_id: int, fhir_patient_id: str | None
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


def _or_everything(rule: ColumnElement[bool] | None) -> ColumnElement[bool]:
    return true() if rule is None else rule


async def visible_conversation(db: AsyncSession, caller: Caller, conversation_id: int, *,
                               lock: bool = False) -> Conversation | None:
    """``lock``: also lock the row (FOR UPDATE) and load its latest values, for a write."""
    query = select(Conversation).where(Conversation.id == conversation_id)
    rule = thread_visibility(caller)
    if rule is not None:
        query = query.where(rule)
    if lock:
        query = query.with_for_update().execution_options(populate_existing=True)
    return (await db.execute(query)).scalar_one_or_none()


@dataclass(frozen=True)
class Member:
    """A thread's participant as a write needs them: who they are, and the facts that
    decide whether they may see the thread (``thread_visibility``'s inputs)."""

    user_id: int
    is_active: bool
    level: PermissionLevel
    fhir_patient_id: str | None


_MEMBER_FACTS = (User.id, User.is_active, User.system_permissions, User.fhir_patient_id)
# Built once: a thread's members in the order they joined, with their accounts' facts.
_MEMBERS = (select(*_MEMBER_FACTS)
            .join(P, P.user_id == User.id)
            .where(P.conversation_id == bindparam("conversation_id"))
            .order_by(P.id))


def _member(user_id: int, is_active: bool, permissions: str, fhir_patient_id: str | None
            ) -> Member:
    # The level as ``Caller.level`` reads it from the same column.
    return Member(user_id, bool(is_active),
                  parse_level(permissions) or PermissionLevel.PATIENT, fhir_patient_id)


async def members(db: AsyncSession, conversation_id: int) -> list[Member]:
    """A thread's participants, in the order they joined, in one statement."""
    rows = await db.execute(_MEMBERS, {"conversation_id": conversation_id})
    return [_member(*row) for row in rows.all()]


async def accounts(db: AsyncSession, user_ids: Sequence[int]) -> list[Member]:
    """The facts of ``user_ids``' accounts, in the given order (unknown ids left out)."""
    rows = await db.execute(select(*_MEMBER_FACTS).where(User.id.in_(set(user_ids))))
    found = {member.user_id: member for member in (_member(*row) for row in rows.all())}
    return [found[uid] for uid in user_ids if uid in found]


@dataclass(frozen=True)
class Audience:
    """Who hears of a change to a thread, in the order asked."""

    recipients: list[int]  # active, and may see the thread now
    subscribed: list[int]  # of the recipients, those with a push subscription


# Built once per user, like the visibility rule: an immutable clause.
@lru_cache(maxsize=4096)
def _has_subscription(user_id: int) -> ColumnElement[bool]:
    return select(literal(1)).where(PushSubscription.user_id == user_id).exists()


async def audience(db: AsyncSession, conversation_id: int, people: Sequence[Member]
                   ) -> Audience:
    """Of ``people``, who may see the thread now, and of them who could be pushed to.

    One statement: each person's rule and whether they hold a subscription are two
    columns of a single row. Asking here spares the push notifier a session of its own
    for the (usual) change none of whose recipients has subscribed.
    """
    active = {m.user_id: m for m in people if m.is_active}
    if not active:
        return Audience([], [])
    query = _audience_query(tuple(active.values()))
    row = (await db.execute(query, {"conversation_id": conversation_id})).one_or_none()
    if row is None:
        return Audience([], [])
    answers = dict(zip(active, zip(row[0::2], row[1::2], strict=True), strict=True))
    recipients = [m.user_id for m in people if answers.get(m.user_id, (False, False))[0]]
    return Audience(recipients, [uid for uid in recipients if answers[uid][1]])


# Built once per group of people (a thread's members, usually): the rules are SQL,
# evaluated when the statement runs, so a reused statement follows every change.
@lru_cache(maxsize=1024)
def _audience_query(people: tuple[Member, ...]) -> Select[*tuple[Any, ...]]:
    columns = [column for m in people for column in (
        _or_everything(_thread_visibility(m.level, m.user_id, m.fhir_patient_id)
                       ).label(f"u{m.user_id}"),
        _has_subscription(m.user_id).label(f"p{m.user_id}"))]
    return select(*columns).where(Conversation.id == bindparam("conversation_id"))


def _after(cursor: str | None, updated: Any, ident: Any) -> list[ColumnElement[bool]]:
    if not cursor:
        return []
    updated_at, conversation_id = decode_values(cursor, datetime, int)
    return [or_(updated < updated_at, and_(updated == updated_at, ident < conversation_id))]


def page_ids(user_id: int, participant_only: bool, filters: Sequence[ColumnElement[bool]],
             cursor: str | None, limit: int) -> Select[Any]:
    """The page's thread ids first, so counts and previews are computed for it alone.

    A participant's threads come from the participant rows' copy of the ordering key
    (index user_id, conversation_updated_at, conversation_id): the database walks that
    index newest first and stops after limit + 1 rows that pass the filters, so the page
    costs the same whether the user is in 100 threads or 100,000. Otherwise (one
    patient's threads) the ``(patient_id, updated_at, id)`` index of conversations serves.
    """
    if participant_only:
        updated, ident = P.conversation_updated_at, P.conversation_id
        query = (select(ident.label("id"))
                 .join(Conversation, Conversation.id == ident)
                 .where(P.user_id == user_id))
    else:
        updated, ident = Conversation.updated_at, Conversation.id
        query = select(ident)
    query = query.where(*filters, *_after(cursor, updated, ident))
    return query.order_by(updated.desc(), ident.desc()).limit(limit + 1)


def _listing(user_id: int, page: Any) -> Select[Any]:
    return (
        select(
            Conversation,
            MINE.id.is_not(None).label("is_participant"),
            _unread_count(user_id, MINE.last_read_at).label("unread"),
            func.substr(LAST.body, 1, PREVIEW_CHARS).label("preview"),
            LAST.created_at.label("last_time"),
        )
        .join(page, page.c.id == Conversation.id)
        .outerjoin(MINE, and_(MINE.conversation_id == Conversation.id, MINE.user_id == user_id))
        .outerjoin(LAST, LAST.id == Conversation.last_message_id)
        .order_by(Conversation.updated_at.desc(), Conversation.id.desc())
    )


async def list_conversations(
    db: AsyncSession,
    user_id: int,
    *,
    participant_only: bool,
    filters: Sequence[ColumnElement[bool]] = (),
    limit: int,
    cursor: str | None,
) -> ConversationPage:
    """Threads by latest activity (newest first), keyset-paged on (updated_at, id)."""
    page = page_ids(user_id, participant_only, filters, cursor, limit).subquery()
    result = (await db.execute(_listing(user_id, page))).all()
    rows = [
        ConversationRow(r[0], bool(r.is_participant), int(r.unread or 0) if r.is_participant
                        else 0, r.preview, r.last_time)
        for r in result[:limit]
    ]
    next_cursor = None
    if len(result) > limit:
        tail = rows[-1].conversation
        next_cursor = encode_values(tail.updated_at, tail.id)
    return ConversationPage(rows, next_cursor)


async def participants_of(
    db: AsyncSession, conversation_ids: Sequence[int]
) -> dict[int, list[ParticipantRow]]:
    """Participants of several threads in one statement."""
    grouped: dict[int, list[ParticipantRow]] = {cid: [] for cid in conversation_ids}
    if not conversation_ids:
        return grouped
    # Plain rows, not ORM entities: the participants are only shown, never changed here.
    query = (
        select(P.conversation_id, P.user_id, User.username, User.full_name, P.role,
               P.joined_at, P.last_read_at)
        .join(User, User.id == P.user_id)
        .where(P.conversation_id.in_(conversation_ids))
        .order_by(P.conversation_id, P.id)
    )
    for conversation_id, user_id, username, full_name, role, joined_at, last_read_at in (
            await db.execute(query)).all():
        grouped[conversation_id].append(ParticipantRow(
            conversation_id, user_id, username, full_name or username, role, joined_at,
            last_read_at))
    return grouped


async def set_last_read(db: AsyncSession, conversation_id: int, user_id: int,
                        moment: datetime) -> None:
    await db.execute(update(P).where(P.conversation_id == conversation_id,
                                     P.user_id == user_id).values(last_read_at=moment))


def add_members(db: AsyncSession, conversation_id: int, initiator: int, others: Sequence[int],
                moment: datetime) -> None:
    """A new thread's participant rows: its initiator (who has read it) and the others."""
    db.add(P(conversation_id=conversation_id, user_id=initiator,
             role=ParticipantRole.INITIATOR.value, joined_at=moment, last_read_at=moment,
             conversation_updated_at=moment))
    for uid in others:
        db.add(P(conversation_id=conversation_id, user_id=uid,
                 role=ParticipantRole.PARTICIPANT.value, joined_at=moment, last_read_at=None,
                 conversation_updated_at=moment))


_PARTICIPANT_ROWS: Table = ConversationParticipant.__table__  # type: ignore[assignment]
_MOMENT = bindparam("moment", type_=_PARTICIPANT_ROWS.c.conversation_updated_at.type)
# Built once. A Core statement: participant entities a session holds are not refreshed by
# it (the write paths read participants as rows). A NULL reader matches no row.
_STAMP_ACTIVITY = (
    update(_PARTICIPANT_ROWS)
    .where(_PARTICIPANT_ROWS.c.conversation_id == bindparam("thread"))
    .values(conversation_updated_at=_MOMENT,
            last_read_at=case((_PARTICIPANT_ROWS.c.user_id == bindparam("reader"), _MOMENT),
                              else_=_PARTICIPANT_ROWS.c.last_read_at))
)


async def stamp_activity(db: AsyncSession, conversation_id: int, moment: datetime, *,
                         reader: int | None = None) -> None:
    """Every participant's copy of the thread's activity time; with ``reader``, that
    participant's read time too, in the same statement."""
    await db.execute(_STAMP_ACTIVITY, {"thread": conversation_id, "moment": moment,
                                       "reader": reader})


async def participant(db: AsyncSession, conversation_id: int, user_id: int
                      ) -> ConversationParticipant | None:
    return (await db.execute(
        select(ConversationParticipant).where(
            ConversationParticipant.conversation_id == conversation_id,
            ConversationParticipant.user_id == user_id)
    )).scalar_one_or_none()


async def participant_ids(db: AsyncSession, conversation_id: int) -> list[int]:
    rows = await db.execute(
        select(ConversationParticipant.user_id)
        .where(ConversationParticipant.conversation_id == conversation_id)
        .order_by(ConversationParticipant.id))
    return [int(uid) for uid in rows.scalars()]


async def messages_of(db: AsyncSession, conversation_id: int) -> list[MessageRow]:
    """A thread's messages, oldest first, with their senders' names."""
    rows = await db.execute(
        select(Message, SENDER.username, SENDER.full_name)
        .outerjoin(SENDER, SENDER.id == Message.sender_id)
        .where(Message.conversation_id == conversation_id)
        .order_by(Message.created_at, Message.id))
    return [MessageRow(m, username, full_name) for m, username, full_name in rows.all()]
