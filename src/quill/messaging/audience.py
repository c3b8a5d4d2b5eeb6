"""Who a change to a thread reaches: its members, and of them who may see it now and who
could be sent a push, asked in the changing transaction."""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass
from functools import lru_cache
from typing import Any

from sqlalchemy import ColumnElement, Select, bindparam, literal, select
from sqlalchemy.ext.asyncio import AsyncSession

from quill.identity.levels import PermissionLevel, parse_level
from quill.identity.models import User
from quill.messaging.models import Conversation, ConversationParticipant
from quill.messaging.repository import or_everything, visibility_rule
from quill.push.models import PushSubscription

P = ConversationParticipant


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


async def who_hears(db: AsyncSession, conversation_id: int, people: Sequence[Member]
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
        or_everything(visibility_rule(m.level, m.user_id, m.fhir_patient_id)
                       ).label(f"u{m.user_id}"),
        _has_subscription(m.user_id).label(f"p{m.user_id}"))]
    return select(*columns).where(Conversation.id == bindparam("conversation_id"))
