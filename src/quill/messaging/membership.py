"""Participant rows as the write paths change them: a new thread's members, read times
and each participant's copy of the thread's activity time."""

from __future__ import annotations

from collections.abc import Sequence
from datetime import datetime

from sqlalchemy import Table, bindparam, case, select, update
from sqlalchemy.ext.asyncio import AsyncSession

from quill.messaging.models import ConversationParticipant, ParticipantRole

P = ConversationParticipant


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
