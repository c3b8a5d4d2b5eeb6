"""Storing and removing a user's push subscriptions."""

from __future__ import annotations

from dataclasses import dataclass

from sqlalchemy import delete, select
from sqlalchemy.dialects.postgresql import insert as pg_insert
from sqlalchemy.dialects.sqlite import insert as sqlite_insert
from sqlalchemy.ext.asyncio import AsyncSession

from quill.clock import Clock
from quill.errors import ServiceDisabled
from quill.identity.caller import Caller
from quill.push.endpoints import EndpointPolicy
from quill.push.models import PushSubscription
from quill.push.schemas import SubscribeRequest

# Each message fans out to every subscription of its recipients; a cap keeps one account
# from turning Quill into a request amplifier. Browsers beyond it lose the oldest entry.
MAX_SUBSCRIPTIONS_PER_USER = 20
NOT_CONFIGURED = "Push notifications are not configured"


def configured_key(public_key: str | None) -> str:
    """The VAPID public key; ServiceDisabled when push is not configured."""
    if public_key is None:
        raise ServiceDisabled(NOT_CONFIGURED)
    return public_key


@dataclass
class PushService:
    db: AsyncSession
    caller: Caller
    clock: Clock
    # The VAPID public key, None when push is not configured.
    public_key: str | None
    # Which endpoints Quill may deliver to (public https; loopback only when allowed).
    endpoints: EndpointPolicy

    async def subscribe(self, body: SubscribeRequest) -> None:
        """Store the subscription for the caller; an endpoint already known moves to them."""
        configured_key(self.public_key)
        await self.endpoints.check(body.endpoint)
        now, user_id = self.clock.now(), self.caller.user_id
        values = {"user_id": user_id, "endpoint": body.endpoint,
                  "p256dh": body.keys.p256dh, "auth": body.keys.auth,
                  "created_at": now, "updated_at": now}
        # One statement, so two tabs subscribing the same browser at once cannot collide.
        insert = pg_insert if self.db.get_bind().dialect.name == "postgresql" else sqlite_insert
        statement = insert(PushSubscription).values(values)
        statement = statement.on_conflict_do_update(
            index_elements=[PushSubscription.endpoint],
            set_={"user_id": user_id, "p256dh": body.keys.p256dh,
                  "auth": body.keys.auth, "updated_at": now},
        )
        await self.db.execute(statement)
        await self._keep_newest(user_id)

    async def _keep_newest(self, user_id: int) -> None:
        stale = (
            select(PushSubscription.id).where(PushSubscription.user_id == user_id)
            .order_by(PushSubscription.updated_at.desc(), PushSubscription.id.desc())
            .offset(MAX_SUBSCRIPTIONS_PER_USER)
        )
        ids = list((await self.db.execute(stale)).scalars())
        if ids:
            await self.db.execute(delete(PushSubscription).where(PushSubscription.id.in_(ids)))

    async def unsubscribe(self, endpoint: str) -> None:
        """Forget the caller's subscription for ``endpoint``; unknown endpoints are fine."""
        await self.db.execute(delete(PushSubscription).where(
            PushSubscription.endpoint == endpoint,
            PushSubscription.user_id == self.caller.user_id))
