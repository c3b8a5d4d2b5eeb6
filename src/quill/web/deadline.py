"""Every request answers within QUILL_REQUEST_TIMEOUT_SECONDS: past it, 503 with Retry-After.

The database has deadlines of its own (connect, statement, pool), shorter than this one,
and those name the dependency in the log; this is the backstop for whatever else a request
waits on. An event stream is exempt once it starts: the deadline covers authenticating
and subscribing, then is lifted for the stream's long life.
"""

from __future__ import annotations

import asyncio
import json
import logging

from starlette.types import ASGIApp, Message, Receive, Scope, Send

from quill.errors import RETRY_AFTER_SECONDS, ServiceUnavailable
from quill.web.observability import route_template

log = logging.getLogger("quill.request")
EVENT_STREAM = b"text/event-stream"


def _is_event_stream(message: Message) -> bool:
    return any(bytes(name).lower() == b"content-type" and bytes(value).startswith(EVENT_STREAM)
               for name, value in message.get("headers", ()))


def _unavailable_messages() -> tuple[Message, Message]:
    body = json.dumps({"detail": ServiceUnavailable.public_detail}).encode()
    start: Message = {
        "type": "http.response.start", "status": 503,
        "headers": [(b"content-type", b"application/json"),
                    (b"content-length", str(len(body)).encode()),
                    (b"retry-after", str(RETRY_AFTER_SECONDS).encode())],
    }
    return start, {"type": "http.response.body", "body": body}


class RequestDeadlineMiddleware:
    def __init__(self, app: ASGIApp, *, seconds: float) -> None:
        self.app = app
        self.seconds = seconds

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        if scope["type"] != "http":
            await self.app(scope, receive, send)
            return
        started = False
        deadline = asyncio.timeout(self.seconds)

        async def send_started(message: Message) -> None:
            nonlocal started
            if message["type"] == "http.response.start":
                started = True
                if _is_event_stream(message):
                    deadline.reschedule(None)
            await send(message)

        try:
            async with deadline:
                await self.app(scope, receive, send_started)
        except TimeoutError:
            if not deadline.expired():
                raise  # a timeout of the app's own, already past its handlers
            self._log_late(scope)
            if not started:
                for message in _unavailable_messages():
                    await send(message)

    def _log_late(self, scope: Scope) -> None:
        log.warning("request exceeded its %.1f s deadline; no dependency answered in time",
                    self.seconds, extra={"dependency": "request",
                                         "route": route_template(scope),
                                         "method": scope.get("method")})
