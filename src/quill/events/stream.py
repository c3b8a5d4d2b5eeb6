"""Server-Sent Events framing for one caller's stream."""

from __future__ import annotations

import asyncio
import contextlib
import json
import logging
import secrets
from collections.abc import AsyncGenerator, AsyncIterator, Awaitable, Callable
from contextlib import AsyncExitStack
from functools import partial

import anyio
from starlette.responses import StreamingResponse
from starlette.types import Receive, Scope, Send

from quill.errors import ServiceUnavailable
from quill.events.bus import Event, EventBus, Subscription
from quill.events.shutdown import ShutdownNotice

log = logging.getLogger("quill.events")
PING = b": ping\n\n"
# Sent once the subscription is live: it flushes the headers through proxies at once and
# tells a client that events published from now on will reach it.
OPENED = b": connected\n\n"
# Bounds of the reconnection delay a closing server asks for, in milliseconds. Spread over
# a few seconds, the streams of a stopping instance do not all land on the others at once.
RECONNECT_MS = (1000, 4000)
# Said instead when the cross-worker fan-out (Redis) is down, and again when it changes:
# events from this worker still arrive, those from other workers do not.
OPENED_WITHOUT_FANOUT = (b": connected; fan-out unavailable, only events from this worker "
                         b"arrive until it is back\n\n")
FANOUT_LOST = b": fan-out unavailable, only events from this worker arrive\n\n"
FANOUT_RESTORED = b": fan-out restored\n\n"

StillAllowed = Callable[[], Awaitable[bool]]


def closing_frame() -> bytes:
    """The last block of a stream the server ends for shutdown: a ``retry`` field, which
    sets how long the client waits before it reconnects (to another instance, behind a
    proxy). A block without data dispatches no event."""
    low, high = RECONNECT_MS
    delay = low + secrets.randbelow(high - low + 1)
    return f": server shutting down\nretry: {delay}\n\n".encode()


def frame(event: Event) -> bytes:
    data = json.dumps({"conversation_id": event.conversation_id, "message_id": event.message_id})
    return f"event: {event.type}\ndata: {data}\n\n".encode()


async def _next_event(subscription: Subscription, stopping: asyncio.Future[None],
                      within: float) -> Event | None:
    """The next event within ``within`` seconds, or None when none came or on shutdown."""
    getting = asyncio.ensure_future(subscription.get())
    try:
        await asyncio.wait((getting, stopping), timeout=within,
                           return_when=asyncio.FIRST_COMPLETED)
    finally:
        if not getting.done():
            getting.cancel()  # the subscription keeps the event for the next get
    return getting.result() if getting.done() and not getting.cancelled() else None


async def open_event_stream(
    bus: EventBus, user_id: int, *, ping_seconds: float, recheck_seconds: float,
    still_allowed: StillAllowed, shutdown: ShutdownNotice,
) -> AsyncIterator[bytes]:
    """The caller's frames, subscribed already: a stream that cannot subscribe raises
    ServiceUnavailable here, before any response starts, rather than answering 200 with
    an empty body."""
    frames = event_frames(bus, user_id, ping_seconds=ping_seconds,
                          recheck_seconds=recheck_seconds, still_allowed=still_allowed,
                          shutdown=shutdown)
    first = await anext(frames)
    return _starting_with(first, frames)


async def _starting_with(first: bytes, rest: AsyncGenerator[bytes]) -> AsyncIterator[bytes]:
    try:
        yield first
        async for item in rest:
            yield item
    finally:
        await rest.aclose()


async def event_frames(
    bus: EventBus, user_id: int, *, ping_seconds: float, recheck_seconds: float,
    still_allowed: StillAllowed, shutdown: ShutdownNotice,
) -> AsyncGenerator[bytes]:
    """Frames for ``user_id``: its events as they come, a ping after ``ping_seconds`` of
    silence, and a reconnection hint as the last frame when the server shuts down.

    ``still_allowed`` is asked every ``recheck_seconds`` on a clock of its own, not only
    when the stream is idle: a busy stream must end as soon after logout, revocation or
    deactivation as a quiet one.
    """
    async with AsyncExitStack() as stack:
        try:
            subscription = await stack.enter_async_context(bus.subscribe(user_id))
        except Exception as exc:
            raise ServiceUnavailable("events", f"cannot subscribe: {type(exc).__name__}") from exc
        stopping = asyncio.ensure_future(shutdown.wait())
        stack.callback(stopping.cancel)
        fanout = bus.fanout_available
        yield OPENED if fanout else OPENED_WITHOUT_FANOUT
        loop = asyncio.get_running_loop()
        next_check = loop.time() + recheck_seconds
        next_ping = loop.time() + ping_seconds
        while True:
            if shutdown.begun:
                yield closing_frame()
                return
            if loop.time() >= next_check:
                if not await still_allowed():
                    return
                next_check = loop.time() + recheck_seconds
            if loop.time() >= next_ping:
                yield PING
                next_ping = loop.time() + ping_seconds
            wait = max(0.0, min(next_check, next_ping) - loop.time())
            event = await _next_event(subscription, stopping, wait)
            if bus.fanout_available != fanout:
                fanout = bus.fanout_available
                yield FANOUT_RESTORED if fanout else FANOUT_LOST
            if event is None:
                continue
            yield frame(event)
            next_ping = loop.time() + ping_seconds


class EventStreamResponse(StreamingResponse):
    """A ``text/event-stream`` response that stops as soon as the client goes away.

    Starlette only notices a vanished client on its next write; an idle stream would keep
    its subscription until the next ping. Watching ``receive`` ends it at once.
    """

    media_type = "text/event-stream"

    def __init__(self, content: AsyncIterator[bytes], status_code: int = 200) -> None:
        super().__init__(content, status_code=status_code,
                         headers={"Cache-Control": "no-cache", "X-Accel-Buffering": "no"})

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        async with anyio.create_task_group() as group:

            async def run_then_stop(job: Callable[[], Awaitable[None]]) -> None:
                with contextlib.suppress(OSError):  # the client is gone
                    await job()
                group.cancel_scope.cancel()

            group.start_soon(run_then_stop, partial(self.stream_response, send))
            group.start_soon(run_then_stop, partial(self.listen_for_disconnect, receive))
