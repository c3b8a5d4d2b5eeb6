"""Redis pub/sub event bus, so an event published by one worker reaches streams on all.

Each worker keeps ONE pub/sub connection on one channel and fans events out to its own
streams locally; the number of Redis connections does not grow with the number of streams.

An event published on this worker goes straight to this worker's streams, and through
Redis to the others only; each worker marks what it publishes and skips its own echo. So
local streams never depend on Redis, even in the moment after a restart before the
listener has noticed its old connection is gone. While the subscription is down, only
events from other workers are missed; the listener retries at once and then in growing
steps up to a second, so a restarted Redis is heard again within about a second.
"""

from __future__ import annotations

import asyncio
import contextlib
import json
import logging
import uuid
from collections.abc import AsyncIterator
from contextlib import asynccontextmanager

from redis.asyncio import Redis
from redis.asyncio.client import PubSub
from redis.exceptions import RedisError

from quill.events.bus import Event, LocalFanout, Subscription
from quill.events.redis_client import HEALTH_CHECK_SECONDS, redis_options

log = logging.getLogger("quill.events")
RETRY_MIN_SECONDS = 0.05
RETRY_MAX_SECONDS = 1.0
# How long get_message waits per turn; the connection's health check runs between turns.
LISTEN_TURN_SECONDS = 1.0


class RedisEventBus:
    def __init__(self, url: str, *, prefix: str = "quill", timeout_seconds: float = 3.0) -> None:
        self.channel = f"{prefix}:events"
        self._timeout = timeout_seconds
        # Named, so an operator can tell Quill's connections apart in CLIENT LIST.
        self._redis: Redis = Redis.from_url(url, client_name=f"{prefix}-publish",
                                            **redis_options(timeout_seconds))
        # The subscriber waits on its socket indefinitely by design, so it has no read
        # timeout; a PING between turns finds a connection that died quietly.
        self._listen_client: Redis = Redis.from_url(
            url, client_name=f"{prefix}-events", socket_connect_timeout=timeout_seconds,
            health_check_interval=HEALTH_CHECK_SECONDS)
        self._fanout = LocalFanout()
        # Marks this worker's events, so its listener skips them when Redis echoes them.
        self._origin = uuid.uuid4().hex
        self._listener: asyncio.Task[None] | None = None
        self._subscribed = False
        self._first_attempt_done = asyncio.Event()
        # Checked between turns too: redis-py's get_message can swallow a cancellation
        # that lands while its own read timeout fires.
        self._closing = False

    @property
    def fanout_available(self) -> bool:
        """Whether events published by other workers reach this worker's streams now."""
        return self._subscribed

    async def ping(self) -> bool:
        """A readiness probe: Redis answers a command."""
        return bool(await self._redis.ping())

    async def publish(self, event: Event) -> None:
        self._fanout.deliver(event)
        try:
            await self._redis.publish(self.channel, event.to_json(origin=self._origin))
        except (RedisError, OSError):
            # Live events are a convenience; the message itself is already committed.
            log.warning("could not publish event to other workers", exc_info=True,
                        extra={"conversation_id": event.conversation_id,
                               "dependency": "redis"})

    @asynccontextmanager
    async def subscribe(self, user_id: int) -> AsyncIterator[Subscription]:
        await self._ensure_listening()
        async with self._fanout.subscription(user_id) as subscription:
            yield subscription

    @property
    def subscriber_count(self) -> int:
        return self._fanout.count

    async def _ensure_listening(self) -> None:
        if self._listener is None:
            self._listener = asyncio.create_task(self._listen(), name="quill-events")
        # Wait for the first attempt, so an event published right after the first stream
        # opens is not missed; a Redis that is down fails that attempt quickly.
        with contextlib.suppress(TimeoutError):
            async with asyncio.timeout(self._timeout * 2):
                await self._first_attempt_done.wait()

    async def _listen(self) -> None:
        delay = RETRY_MIN_SECONDS
        while not self._closing:
            pubsub = self._listen_client.pubsub()
            try:
                await self._subscribe(pubsub)
                delay = RETRY_MIN_SECONDS
                while not self._closing:
                    message = await pubsub.get_message(ignore_subscribe_messages=True,
                                                       timeout=LISTEN_TURN_SECONDS)
                    if message is not None and message["type"] == "message":
                        self._deliver(message["data"])
            except (RedisError, OSError) as exc:
                if self._subscribed or not self._first_attempt_done.is_set():
                    log.warning("event fan-out unavailable; streams get only this "
                                "worker's events until Redis answers: %s",
                                type(exc).__name__, extra={"dependency": "redis"})
            finally:
                self._subscribed = False
                self._first_attempt_done.set()
                with contextlib.suppress(RedisError, OSError):
                    await pubsub.aclose()  # type: ignore[no-untyped-call]
            await asyncio.sleep(delay)
            delay = min(delay * 2, RETRY_MAX_SECONDS)

    async def _subscribe(self, pubsub: PubSub) -> None:
        await pubsub.subscribe(self.channel)
        # Wait for Redis to confirm before saying the fan-out works.
        async with asyncio.timeout(self._timeout):
            while True:
                message = await pubsub.get_message(timeout=self._timeout)
                if message is not None and message["type"] == "subscribe":
                    break
        if not self._subscribed and self._first_attempt_done.is_set():
            log.info("event fan-out restored", extra={"dependency": "redis"})
        self._subscribed = True
        self._first_attempt_done.set()

    def _deliver(self, raw: bytes | str) -> None:
        try:
            data = json.loads(raw)
            if isinstance(data, dict) and data.get("origin") == self._origin:
                return  # delivered locally when it was published
            event = Event.from_wire(data)
        except ValueError:
            log.warning("ignored a malformed event on the channel")
            return
        self._fanout.deliver(event)

    async def close(self) -> None:
        self._closing = True
        if self._listener is not None:
            self._listener.cancel()
            with contextlib.suppress(asyncio.CancelledError):
                await self._listener
            self._listener = None
        await self._redis.aclose()
        await self._listen_client.aclose()
