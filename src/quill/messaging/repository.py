"""Listing queries over the projection. Counts and previews are computed in SQL."""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass
from datetime import UTC, datetime
from typing import Any

from sqlalchemy import ColumnElement, Select, Subquery, and_, func, or_, select
from sqlalchemy.ext.asyncio import AsyncSession
from sqlalchemy.orm import aliased

from quill.messaging.models import Conversation, ConversationParticipant, Message
from quill.pagination import decode_cursor, encode_cursor
from quill.users.models import User

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


def _page(user_id: int, participant_only: bool, filters: Sequence[ColumnElement[bool]],
          cursor: str | None, limit: int) -> Subquery:
    """Ids of the page's threads (one more than ``limit``), chosen before anything is counted.

    Keeping the unread counts and previews out of this step matters: a database that sorts
    the candidate rows evaluates every column it carries first, so counting here would cost
    one subquery per thread the caller takes part in, not one per thread shown.
    """
    query = select(Conversation.id)
    if participant_only:
        mine = aliased(ConversationParticipant)
        query = query.join(mine, and_(mine.conversation_id == Conversation.id,
                                      mine.user_id == user_id))
    query = query.where(*filters)
    if cursor:
        updated_at, conversation_id = decode_cursor(cursor, 2)
        query = query.where(or_(
            Conversation.updated_at < updated_at,
            and_(Conversation.updated_at == updated_at, Conversation.id < conversation_id),
        ))
    query = query.order_by(Conversation.updated_at.desc(), Conversation.id.desc())
    return query.limit(limit + 1).subquery("page")


def _listing(user_id: int, participant_only: bool) -> Select[Any]:
    mine = aliased(ConversationParticipant)
    last = aliased(Message)
    membership = and_(mine.conversation_id == Conversation.id, mine.user_id == user_id)
    query = select(
        Conversation,
        mine.id.is_not(None).label("is_participant"),
        _unread_count(user_id, mine.last_read_at).label("unread"),
        func.substr(last.body, 1, PREVIEW_CHARS).label("preview"),
        last.created_at.label("last_time"),
    )
    query = query.join(mine, membership) if participant_only else query.outerjoin(mine, membership)
    return query.outerjoin(last, last.id == Conversation.last_message_id)


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
    page = _page(user_id, participant_only, filters, cursor, limit)
    query = (_listing(user_id, participant_only).join(page, page.c.id == Conversation.id)
             .order_by(Conversation.updated_at.desc(), Conversation.id.desc()))
    result = (await db.execute(query)).all()
    rows = [
        ConversationRow(r[0], bool(r.is_participant), int(r.unread or 0) if r.is_participant
                        else 0, r.preview, r.last_time)
        for r in result[:limit]
    ]
    next_cursor = None
    if len(result) > limit:
        tail = rows[-1].conversation
        next_cursor = encode_cursor(tail.updated_at, tail.id)
    return ConversationPage(rows, next_cursor)


async def participants_of(
    db: AsyncSession, conversation_ids: Sequence[int]
) -> dict[int, list[ParticipantRow]]:
    """Participants of several threads in one statement."""
    grouped: dict[int, list[ParticipantRow]] = {cid: [] for cid in conversation_ids}
    if not conversation_ids:
        return grouped
    query = (
        select(ConversationParticipant, User.username, User.full_name)
        .join(User, User.id == ConversationParticipant.user_id)
        .where(ConversationParticipant.conversation_id.in_(conversation_ids))
        .order_by(ConversationParticipant.conversation_id, ConversationParticipant.id)
    )
    for participant, username, full_name in (await db.execute(query)).all():
        grouped[participant.conversation_id].append(ParticipantRow(
            participant.conversation_id, participant.user_id, username,
            full_name or username, participant.role, participant.joined_at,
        ))
    return grouped
