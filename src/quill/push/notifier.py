"""Sends "new message in thread N" Web Push notifications in the background.

pywebpush does the RFC 8291 (aes128gcm) encryption and py_vapid the RFC 8292 signature.
Every send checks its endpoint again (addresses change after subscribing) and goes, with
the project's outbound timeout and without following redirects, to exactly the address
that check approved (quill.push.delivery). Endpoint URLs are bearer capabilities: no log
line here names one.
"""

from __future__ import annotations

import asyncio
import json
import logging
from collections.abc import Iterable
from dataclasses import dataclass
from datetime import timedelta
from urllib.parse import urlsplit

from py_vapid import Vapid02
from pywebpush import WebPusher
from sqlalchemy import delete, select
from sqlalchemy.ext.asyncio import AsyncSession, async_sessionmaker

from quill.clock import Clock
from quill.errors import Invalid
from quill.push.delivery import SEND_ERRORS, PushSender
from quill.push.endpoints import EndpointPolicy
from quill.push.keys import VapidKeys
from quill.push.models import PushSubscription

log = logging.getLogger("quill.push")
TTL_SECONDS = 24 * 60 * 60
VAPID_LIFETIME = timedelta(hours=12)
GONE = frozenset({404, 410})
MAX_PARALLEL_SENDS = 8
SHUTDOWN_GRACE_SECONDS = 5.0


def payload_for(conversation_id: int) -> bytes:
    """Only that thread N has news: no subject, text, patient or sender."""
    return json.dumps({"title": "New message", "conversation_id": conversation_id,
                       "url": f"/messages/{conversation_id}"}).encode()


@dataclass(frozen=True)
class _Target:
    id: int
    endpoint: str
    p256dh: str
    auth: str


class PushNotifier:
    def __init__(
        self, *, session_factory: async_sessionmaker[AsyncSession], keys: VapidKeys | None,
        subject: str, clock: Clock, endpoints: EndpointPolicy, timeout_seconds: float,
    ) -> None:
        self._sessions = session_factory
        self._keys = keys
        self._vapid = Vapid02(private_key=keys.private_key) if keys else None
        self._subject = subject
        self._clock = clock
        self._endpoints = endpoints
        self._sender = PushSender(timeout_seconds)
        self._tasks: set[asyncio.Task[None]] = set()

    @property
    def public_key(self) -> str | None:
        """The VAPID application server key, or None when push is not configured."""
        return self._keys.public_key if self._keys else None

    @property
    def endpoints(self) -> EndpointPolicy:
        """Which endpoints may be subscribed and sent to."""
        return self._endpoints

    async def notify(self, user_ids: Iterable[int], conversation_id: int) -> None:
        """Start notifying every subscription of ``user_ids``; returns at once.

        Call it only after the transaction that created the message has committed, e.g.
        ``background.add_task(push.notify, user_ids, conversation_id)``. It is a
        coroutine so that it always runs on the event loop, never in a worker thread.
        """
        recipients = sorted(set(user_ids))
        if self._vapid is None or not recipients:
            return
        task = asyncio.create_task(self._deliver(recipients, conversation_id))
        self._tasks.add(task)
        task.add_done_callback(self._tasks.discard)

    async def drain(self) -> None:
        """Wait for every notification started so far (shutdown and tests)."""
        while self._tasks:
            await asyncio.gather(*list(self._tasks), return_exceptions=True)

    async def close(self) -> None:
        try:
            async with asyncio.timeout(SHUTDOWN_GRACE_SECONDS):
                await self.drain()
        except TimeoutError:
            for task in list(self._tasks):
                task.cancel()
            await asyncio.gather(*list(self._tasks), return_exceptions=True)
        await self._sender.aclose()

    async def _deliver(self, user_ids: list[int], conversation_id: int) -> None:
        try:
            targets = await self._targets(user_ids)
            limit = asyncio.Semaphore(MAX_PARALLEL_SENDS)

            async def bounded(target: _Target) -> int | None:
                async with limit:
                    return await self._send(target, payload_for(conversation_id))

            statuses = await asyncio.gather(*(bounded(t) for t in targets))
            gone = [t.id for t, status in zip(targets, statuses, strict=True) if status in GONE]
            if gone:
                await self._forget(gone)
        except Exception as exc:
            # The type only: a message or traceback could quote an endpoint URL.
            log.error("push delivery failed: %s", type(exc).__name__,
                      extra={"conversation_id": conversation_id})

    async def _targets(self, user_ids: list[int]) -> list[_Target]:
        async with self._sessions() as db:
            rows = (await db.execute(
                select(PushSubscription).where(PushSubscription.user_id.in_(user_ids))
                .order_by(PushSubscription.id)
            )).scalars().all()
            return [_Target(r.id, r.endpoint, r.p256dh, r.auth) for r in rows]

    async def _forget(self, ids: list[int]) -> None:
        async with self._sessions() as db, db.begin():
            await db.execute(delete(PushSubscription).where(PushSubscription.id.in_(ids)))
        log.info("removed expired push subscriptions", extra={"count": len(ids)})

    async def _send(self, target: _Target, payload: bytes) -> int | None:
        """POST one notification; the push service's status, or None if unreachable."""
        try:
            destination = await self._endpoints.check(target.endpoint)
        except Invalid:
            log.warning("skipped a push endpoint that is no longer allowed",
                        extra={"subscription_id": target.id})
            return None
        body, headers = await asyncio.to_thread(self._encrypted_request, target, payload)
        try:
            status = await self._sender.post(destination, target.endpoint, body, headers)
        except SEND_ERRORS as exc:
            log.warning("push service unreachable: %s", type(exc).__name__,
                        extra={"subscription_id": target.id})
            return None
        if status >= 400 and status not in GONE:
            log.warning("push service refused a notification",
                        extra={"status": status, "subscription_id": target.id})
        return status

    def _encrypted_request(self, target: _Target, payload: bytes) -> tuple[bytes, dict[str, str]]:
        assert self._vapid is not None  # noqa: S101 -- notify() returns early without keys
        subscription = {"endpoint": target.endpoint,
                        "keys": {"p256dh": target.p256dh, "auth": target.auth}}
        body: bytes = WebPusher(subscription).encode(payload, "aes128gcm")["body"]
        parts = urlsplit(target.endpoint)
        claims = {"sub": self._subject, "aud": f"{parts.scheme}://{parts.netloc}",
                  "exp": int((self._clock.now() + VAPID_LIFETIME).timestamp())}
        headers = {**self._vapid.sign(claims), "TTL": str(TTL_SECONDS), "Urgency": "normal",
                   "Content-Encoding": "aes128gcm",
                   "Content-Type": "application/octet-stream"}
        return body, headers
