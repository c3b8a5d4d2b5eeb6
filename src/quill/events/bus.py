"""The event bus port and its in-process implementation.

An event says only *which* conversation changed (and which message, if any) and who may
hear about it; listeners re-read through the API, so no clinical text ever travels here.
Delivery is best effort: a stream that misses an event catches up on its next fetch.
"""

from __future__ import annotations

import asyncio
import json
import logging
from collections.abc import AsyncIterator, Iterable
from contextlib import AbstractAsyncContextManager, asynccontextmanager
from dataclasses import dataclass
from typing import Any, Literal, Protocol, get_args

log = logging.getLogger("quill.events")

EventType = Literal["message.created", "conversation.updated"]
EVENT_TYPES: frozenset[str] = frozenset(get_args(EventType))
# A subscriber that falls this far behind loses the oldest events rather than growing memory.
SUBSCRIPTION_BUFFER = 256


@dataclass(frozen=True)
class Event:
    type: EventType
    conversation_id: int
    message_id: int | None
    recipients: tuple[int, ...]

    @classmethod
    def create(
        cls, type: EventType, conversation_id: int, *, message_id: int | None = None,
        recipients: Iterable[int],
    ) -> Event:
        return cls(type, conversation_id, message_id, tuple(sorted(set(recipients))))

    def to_json(self, **extra: str) -> str:
        """The wire form; ``extra`` fields (the publishing worker) travel alongside."""
        return json.dumps({
            "type": self.type, "conversation_id": self.conversation_id,
            "message_id": self.message_id, "recipients": list(self.recipients), **extra,
        })

    @classmethod
    def from_json(cls, raw: str | bytes) -> Event:
        """Parse a wire event; raises ValueError on anything malformed."""
        return cls.from_wire(json.loads(raw))

    @classmethod
    def from_wire(cls, data: Any) -> Event:
        """The event in parsed wire data; raises ValueError on anything malformed."""
        if not isinstance(data, dict) or data.get("type") not in EVENT_TYPES:
            raise ValueError("not an event")
        conversation_id, message_id = data.get("conversation_id"), data.get("message_id")
        recipients = data.get("recipients")
        if not isinstance(conversation_id, int) or isinstance(conversation_id, bool):
            raise ValueError("bad conversation id")
        if not (message_id is None or _is_int(message_id)):
            raise ValueError("bad message id")
        if not isinstance(recipients, list) or not all(_is_int(r) for r in recipients):
            raise ValueError("bad event recipients")
        return cls(data["type"], conversation_id, message_id, tuple(recipients))


def _is_int(value: object) -> bool:
    return isinstance(value, int) and not isinstance(value, bool)


class Subscription:
    """The events for one user, in arrival order.

    ``await subscription.get()`` (or ``async for``) waits for the next one; cancelling the
    wait (e.g. ``asyncio.wait_for`` timing out) loses nothing.
    """

    def __init__(self, user_id: int, buffer: int = SUBSCRIPTION_BUFFER) -> None:
        self.user_id = user_id
        self._queue: asyncio.Queue[Event] = asyncio.Queue(maxsize=buffer)

    def offer(self, event: Event) -> None:
        if self._queue.full():
            self._queue.get_nowait()
            log.warning("event subscriber lagging; dropped oldest event",
                        extra={"user_id": self.user_id})
        self._queue.put_nowait(event)

    async def get(self) -> Event:
        return await self._queue.get()

    def __aiter__(self) -> Subscription:
        return self

    async def __anext__(self) -> Event:
        return await self.get()


class EventBus(Protocol):
    async def publish(self, event: Event) -> None:
        """Hand the event to every worker's subscribers; never raises for transport errors."""

    @property
    def fanout_available(self) -> bool:
        """False while events from other workers cannot reach this worker's streams."""

    def subscribe(self, user_id: int) -> AbstractAsyncContextManager[Subscription]:
        """Receive the events whose recipients include ``user_id`` while the block is open."""

    async def close(self) -> None: ...


class LocalFanout:
    """Delivers an event to this process's subscribers for its recipients."""

    def __init__(self) -> None:
        self._subscribers: dict[int, set[Subscription]] = {}

    def deliver(self, event: Event) -> None:
        for user_id in event.recipients:
            for subscription in self._subscribers.get(user_id, ()):
                subscription.offer(event)

    @asynccontextmanager
    async def subscription(self, user_id: int) -> AsyncIterator[Subscription]:
        """A subscription that receives events for as long as the block runs."""
        subscription = Subscription(user_id)
        self.add(subscription)
        try:
            yield subscription
        finally:
            self.remove(subscription)

    def add(self, subscription: Subscription) -> None:
        self._subscribers.setdefault(subscription.user_id, set()).add(subscription)

    def remove(self, subscription: Subscription) -> None:
        subscribers = self._subscribers.get(subscription.user_id)
        if subscribers is not None:
            subscribers.discard(subscription)
            if not subscribers:
                del self._subscribers[subscription.user_id]

    @property
    def count(self) -> int:
        return sum(len(subs) for subs in self._subscribers.values())


class InProcessEventBus:
    """Enough for a single worker: events never leave the process."""

    def __init__(self) -> None:
        self._fanout = LocalFanout()

    async def publish(self, event: Event) -> None:
        self._fanout.deliver(event)

    @property
    def fanout_available(self) -> bool:
        return True  # there are no other workers to hear from

    @asynccontextmanager
    async def subscribe(self, user_id: int) -> AsyncIterator[Subscription]:
        async with self._fanout.subscription(user_id) as subscription:
            yield subscription

    @property
    def subscriber_count(self) -> int:
        return self._fanout.count

    async def close(self) -> None:
        return None
