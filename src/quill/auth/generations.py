"""Caller-cache generations that reach every host: Redis pub/sub or PostgreSQL LISTEN/NOTIFY.

Each worker keeps the generation in memory, so checking it on a request costs no round
trip. A subscriber task on a connection of its own moves it to a fresh random value
whenever another worker announces a change, and proves the subscription alive every
``HEARTBEAT_SECONDS``: a PING on the Redis subscription, a ``SELECT 1`` on the listening
PostgreSQL connection. Both servers answer in order, after any announcement made before
the question, so an answer means nothing earlier went unheard. Without an answer for
``TRUST_SECONDS`` (the connection dropped, the server paused, the network split) the
generation reads as unknown and the cache is bypassed until the subscriber is back; a
missed announcement therefore keeps a changed caller usable elsewhere for well under a
second, never until the cache's age ceiling.

A worker ignores its own announcements (it moved its value when committing); every other
announcement, and every (re)subscription, gives a value never used before, so an entry
filled before a gap can never match again.
"""

from __future__ import annotations

import asyncio
import contextlib
import logging
import math
import secrets
import time
from typing import Any

import asyncpg
from redis.asyncio import Redis
from redis.asyncio.client import PubSub
from redis.exceptions import RedisError
from sqlalchemy import text
from sqlalchemy.orm import Session
from sqlalchemy.util import await_only

from quill.db.engine import async_url

log = logging.getLogger("quill.auth")
HEARTBEAT_SECONDS = 0.25
TRUST_SECONDS = 0.75
# Without any answer for this long the connection is given up and opened afresh.
GIVE_UP_SECONDS = 3.0
RETRY_SECONDS = 1.0
GENERATION_BYTES = 8
POSTGRES_CHANNEL = "quill_caller_changes"
APPLICATION_NAME = "quill-caller-changes"


class FollowedGeneration:
    """The in-memory value, and when the subscriber last proved it complete."""

    def __init__(self, name: str) -> None:
        self._name = name
        self._value = secrets.token_bytes(GENERATION_BYTES)
        self._proven_at = -math.inf
        # Names this worker in its announcements, so it can skip its own.
        self.sender = secrets.token_hex(8)
        self._task: asyncio.Task[None] | None = None
        self._outage_logged = False
        self._first_attempt = asyncio.Event()

    @property
    def proven_at(self) -> float:
        """``time.monotonic()`` when the subscriber last proved nothing went unheard."""
        return self._proven_at

    def current(self) -> bytes | None:
        if time.monotonic() - self._proven_at > TRUST_SECONDS:
            return None
        return self._value

    def _move(self) -> None:
        self._value = secrets.token_bytes(GENERATION_BYTES)

    def _prove(self) -> None:
        self._proven_at = time.monotonic()

    def _resubscribed(self) -> None:
        # Announcements may have been missed while unsubscribed: nothing earlier counts.
        self._move()
        self._prove()
        self._first_attempt.set()
        if self._outage_logged:
            log.info("caller cache following changes again", extra={"via": self._name})
            self._outage_logged = False

    async def start(self) -> None:
        if self._task is None:
            self._task = asyncio.get_running_loop().create_task(
                self._run(), name=f"quill-caller-generation-{self._name}")
        # Serving starts either way; waiting only spares the first requests a bypass.
        with contextlib.suppress(TimeoutError):
            async with asyncio.timeout(GIVE_UP_SECONDS):
                await self._first_attempt.wait()

    async def _run(self) -> None:
        while True:
            try:
                await self._follow()
            except Exception:
                # Any failure of the subscription: the cache stays bypassed (current() is
                # None) until a new one is confirmed. Logged once per outage.
                if not self._outage_logged:
                    log.warning("caller cache bypassed: lost the subscription to changes; "
                                "retrying", exc_info=True, extra={"via": self._name})
                    self._outage_logged = True
                self._first_attempt.set()
            finally:
                self._proven_at = -math.inf
            await asyncio.sleep(RETRY_SECONDS)

    async def _follow(self) -> None:
        raise NotImplementedError

    async def aclose(self) -> None:
        if self._task is not None:
            self._task.cancel()
            with contextlib.suppress(asyncio.CancelledError):
                await self._task
            self._task = None
        self._proven_at = -math.inf


class RedisGeneration(FollowedGeneration):
    """Announced with PUBLISH after the commit, heard on one subscription per worker."""

    def __init__(self, url: str, *, prefix: str) -> None:
        super().__init__("redis")
        self.channel = f"{prefix}:caller-changes"
        # Short timeouts: a commit waits for its announcement before answering.
        self._redis: Redis = Redis.from_url(url, client_name=f"{prefix}-callers",
                                            socket_connect_timeout=2, socket_timeout=2)

    def announce_in(self, session: Session) -> None:
        pass  # Redis is not part of the transaction; advance publishes after it

    def advance(self) -> None:
        self._move()
        await_only(self._publish())

    async def _publish(self) -> None:
        try:
            await self._redis.publish(self.channel, self.sender)
        except (RedisError, OSError):
            # The change is committed; other hosts lose their subscription to the same
            # outage in most cases, and then bypass their caches. If not, the cache's
            # age ceiling bounds what they keep.
            log.error("could not announce a caller change to other hosts; their cached "
                      "callers last until QUILL_CALLER_CACHE_SECONDS", exc_info=True)

    async def _follow(self) -> None:
        pubsub: PubSub = self._redis.pubsub()
        try:
            await pubsub.subscribe(self.channel)
            answered = next_ping = time.monotonic()
            while True:
                now = time.monotonic()
                if now - answered > GIVE_UP_SECONDS:
                    raise TimeoutError("Redis stopped answering the caller-change subscription")
                if now >= next_ping:
                    await pubsub.ping()
                    next_ping = now + HEARTBEAT_SECONDS
                message = await pubsub.get_message(timeout=HEARTBEAT_SECONDS)
                if message is not None:
                    answered = time.monotonic()
                    self._heard(message)
        finally:
            await pubsub.aclose()  # type: ignore[no-untyped-call]

    def _heard(self, message: dict[str, Any]) -> None:
        kind = message["type"]
        if kind == "subscribe":
            # Also after redis-py reconnected and resubscribed on its own.
            self._resubscribed()
        elif kind == "pong":
            if self._proven_at > -math.inf:
                self._prove()
        elif kind == "message" and message["data"] != self.sender.encode():
            self._move()

    async def aclose(self) -> None:
        await super().aclose()
        await self._redis.aclose()


def postgres_dsn(database_url: str) -> str:
    """The database URL as asyncpg's own ``connect`` takes it."""
    return async_url(database_url).set(drivername="postgresql").render_as_string(
        hide_password=False)


class PostgresGeneration(FollowedGeneration):
    """Announced with NOTIFY inside the committing transaction, heard through LISTEN.

    NOTIFY is transactional: delivered exactly when the change commits, never when it
    rolls back, at no extra round trip after the commit.
    """

    def __init__(self, database_url: str, *, channel: str = POSTGRES_CHANNEL) -> None:
        super().__init__("postgresql")
        self._dsn = postgres_dsn(database_url)
        self.channel = channel

    def announce_in(self, session: Session) -> None:
        session.execute(text("SELECT pg_notify(:channel, :sender)"),
                        {"channel": self.channel, "sender": self.sender})

    def advance(self) -> None:
        self._move()  # the other hosts heard the NOTIFY as the transaction committed

    async def _follow(self) -> None:
        connection: asyncpg.Connection = await asyncpg.connect(
            self._dsn, timeout=GIVE_UP_SECONDS,
            # Named, so an operator can tell the connection apart in pg_stat_activity.
            server_settings={"application_name": APPLICATION_NAME})
        try:
            connection.add_termination_listener(self._terminated)
            await connection.add_listener(self.channel, self._notified)
            self._resubscribed()
            while True:
                await asyncio.sleep(HEARTBEAT_SECONDS)
                # PostgreSQL sends pending notifications before it answers, and asyncpg
                # runs their callbacks before this await resumes.
                await connection.fetchval("SELECT 1", timeout=GIVE_UP_SECONDS)
                self._prove()
        finally:
            self._proven_at = -math.inf
            with contextlib.suppress(Exception):
                await connection.close(timeout=1)

    def _terminated(self, _connection: object) -> None:
        self._proven_at = -math.inf

    def _notified(self, _connection: object, _pid: int, _channel: str, sender: str) -> None:
        if sender != self.sender:
            self._move()
