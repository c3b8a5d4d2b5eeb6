"""Redis pub/sub event bus, so an event published by one worker reaches streams on all.

Each worker keeps ONE pub/sub connection on one channel and fans events out to its own
streams locally; the number of Redis connections does not grow with the number of streams.
"""

from __future__ import annotations

import asyncio
import contextlib
import logging
from collections.abc import AsyncIterator
from contextlib import asynccontextmanager

from redis.asyncio import Redis
from redis.asyncio.client import PubSub
from redis.exceptions import RedisError

from quill.events.bus import Event, LocalFanout, Subscription

log = logging.getLogger("quill.events")
CONFIRM_TIMEOUT_SECONDS = 5.0
RETRY_SECONDS = 1.0


class RedisEventBus:
    def __init__(self, url: str, *, prefix: str = "quill") -> None:
        self.channel = f"{prefix}:events"
        # Named, so an operator can tell Quill's connections apart in CLIENT LIST.
        self._redis: Redis = Redis.from_url(url, client_name=f"{prefix}-events")
        self._fanout = LocalFanout()
        self._pubsub: PubSub | None = None
        self._listener: asyncio.Task[None] | None = None
        self._start_lock = asyncio.Lock()

    async def publish(self, event: Event) -> None:
        try:
            await self._redis.publish(self.channel, event.to_json())
        except (RedisError, OSError):
            # Live events are a convenience; the message itself is already committed.
            log.warning("could not publish event", exc_info=True,
                        extra={"conversation_id": event.conversation_id})

    @asynccontextmanager
    async def subscribe(self, user_id: int) -> AsyncIterator[Subscription]:
        await self._ensure_listening()
        async with self._fanout.subscription(user_id) as subscription:
            yield subscription

    @property
    def subscriber_count(self) -> int:
        return self._fanout.count

    async def _ensure_listening(self) -> None:
        async with self._start_lock:
            if self._listener is not None:
                return
            pubsub = self._redis.pubsub()
            await pubsub.subscribe(self.channel)
            # Wait for Redis to confirm, so an event published right after a stream
            # opens is not missed.
            async with asyncio.timeout(CONFIRM_TIMEOUT_SECONDS):
                while True:
                    message = await pubsub.get_message(timeout=CONFIRM_TIMEOUT_SECONDS)
                    if message is not None and message["type"] == "subscribe":
                        break
            self._pubsub = pubsub
            self._listener = asyncio.create_task(self._listen(pubsub), name="quill-events")

    async def _listen(self, pubsub: PubSub) -> None:
        while True:
            try:
                if not pubsub.subscribed:
                    await pubsub.subscribe(self.channel)
                # Reconnecting re-subscribes; events published meanwhile are lost.
                async for message in pubsub.listen():
                    if message["type"] == "message":
                        self._deliver(message["data"])
            except (RedisError, OSError):
                log.warning("event channel lost; reconnecting", exc_info=True)
            await asyncio.sleep(RETRY_SECONDS)

    def _deliver(self, raw: bytes | str) -> None:
        try:
            event = Event.from_json(raw)
        except ValueError:
            log.warning("ignored a malformed event on the channel")
            return
        self._fanout.deliver(event)

    async def close(self) -> None:
        if self._listener is not None:
            self._listener.cancel()
            with contextlib.suppress(asyncio.CancelledError):
                await self._listener
            self._listener = None
        if self._pubsub is not None:
            await self._pubsub.aclose()  # type: ignore[no-untyped-call]
            self._pubsub = None
        await self._redis.aclose()
