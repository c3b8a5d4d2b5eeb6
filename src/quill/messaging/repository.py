"""Listing queries over the projection. Counts and previews are computed in SQL."""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass
from datetime import UTC, datetime
from typing import Any

from sqlalchemy import ColumnElement, Select, and_, func, or_, select
from sqlalchemy.ext.asyncio import AsyncSession
from sqlalchemy.orm import aliased

from quill.messaging.models import Conversation, ConversationParticipant, Message
from quill.users.models import User
from quill.web.keyset import decode_values, encode_values

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


def _membership(mine: Any, user_id: int) -> ColumnElement[bool]:
    return and_(mine.conversation_id == Conversation.id, mine.user_id == user_id)


def _page_ids(user_id: int, participant_only: bool, filters: Sequence[ColumnElement[bool]],
              cursor: str | None, limit: int) -> Any:
    """The page's thread ids first, so counts and previews are computed for it alone."""
    query = select(Conversation.id)
    if participant_only:
        mine = aliased(ConversationParticipant)
        query = query.join(mine, _membership(mine, user_id))
    query = query.where(*filters)
    if cursor:
        updated_at, conversation_id = decode_values(cursor, datetime, int)
        query = query.where(or_(
            Conversation.updated_at < updated_at,
            and_(Conversation.updated_at == updated_at, Conversation.id < conversation_id),
        ))
    order = (Conversation.updated_at.desc(), Conversation.id.desc())
    return query.order_by(*order).limit(limit + 1).subquery()


def _listing(user_id: int, page: Any) -> Select[Any]:
    mine = aliased(ConversationParticipant)
    last = aliased(Message)
    return (
        select(
            Conversation,
            mine.id.is_not(None).label("is_participant"),
            _unread_count(user_id, mine.last_read_at).label("unread"),
            func.substr(last.body, 1, PREVIEW_CHARS).label("preview"),
            last.created_at.label("last_time"),
        )
        .join(page, page.c.id == Conversation.id)
        .outerjoin(mine, _membership(mine, user_id))
        .outerjoin(last, last.id == Conversation.last_message_id)
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
    page = _page_ids(user_id, participant_only, filters, cursor, limit)
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
