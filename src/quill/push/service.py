"""Storing and removing a user's push subscriptions."""

from __future__ import annotations

from datetime import datetime

from sqlalchemy import delete, select
from sqlalchemy.dialects.postgresql import insert as pg_insert
from sqlalchemy.dialects.sqlite import insert as sqlite_insert
from sqlalchemy.ext.asyncio import AsyncSession

from quill.identity.caller import Caller
from quill.push.endpoints import check_endpoint
from quill.push.models import PushSubscription
from quill.push.schemas import SubscribeRequest

# Each message fans out to every subscription of its recipients; a cap keeps one account
# from turning Quill into a request amplifier. Browsers beyond it lose the oldest entry.
MAX_SUBSCRIPTIONS_PER_USER = 20


async def subscribe(
    db: AsyncSession, caller: Caller, body: SubscribeRequest, *, production: bool,
    now: datetime,
) -> None:
    """Store the subscription for the caller; an endpoint already known moves to them."""
    await check_endpoint(body.endpoint, production=production)
    values = {"user_id": caller.user_id, "endpoint": body.endpoint,
              "p256dh": body.keys.p256dh, "auth": body.keys.auth,
              "created_at": now, "updated_at": now}
    # One statement, so two tabs subscribing the same browser at once cannot collide.
    insert = pg_insert if db.get_bind().dialect.name == "postgresql" else sqlite_insert
    statement = insert(PushSubscription).values(values)
    statement = statement.on_conflict_do_update(
        index_elements=[PushSubscription.endpoint],
        set_={"user_id": caller.user_id, "p256dh": body.keys.p256dh,
              "auth": body.keys.auth, "updated_at": now},
    )
    await db.execute(statement)
    await _keep_newest(db, caller.user_id)


async def _keep_newest(db: AsyncSession, user_id: int) -> None:
    stale = (
        select(PushSubscription.id).where(PushSubscription.user_id == user_id)
        .order_by(PushSubscription.updated_at.desc(), PushSubscription.id.desc())
        .offset(MAX_SUBSCRIPTIONS_PER_USER)
    )
    ids = list((await db.execute(stale)).scalars())
    if ids:
        await db.execute(delete(PushSubscription).where(PushSubscription.id.in_(ids)))


async def unsubscribe(db: AsyncSession, caller: Caller, endpoint: str) -> None:
    """Forget the caller's subscription for ``endpoint``; unknown endpoints are fine."""
    await db.execute(delete(PushSubscription).where(
        PushSubscription.endpoint == endpoint, PushSubscription.user_id == caller.user_id))
