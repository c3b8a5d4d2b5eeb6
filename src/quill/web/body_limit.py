"""Refuse request bodies larger than QUILL_MAX_BODY_BYTES with 413, before anything parses them.

A pure ASGI middleware, outside routing, so it holds for every route, signed in or not.
A declared ``Content-Length`` over the limit is refused before the app runs; one within it
needs nothing more, since the server never hands over more than it declares, and neither
does a request with no body at all. A chunked body is counted as the app reads it: the
message that crosses the limit is never handed over; the client gets the 413 at once and
the app sees a disconnected client, so at most one message beyond the limit is ever held
in memory.
"""

from __future__ import annotations

import json
import logging

from starlette.types import ASGIApp, Message, Receive, Scope, Send

log = logging.getLogger("quill.request")
TOO_LARGE_DETAIL = "Request body too large"


def _framing(scope: Scope) -> tuple[int | None, bool]:
    """The declared ``Content-Length`` (None when absent) and whether the body is chunked."""
    declared: int | None = None
    chunked = False
    for name, value in scope.get("headers", ()):
        if name == b"content-length":
            try:
                declared = int(bytes(value).decode("latin-1"))
            except ValueError:
                declared = None  # the server rejects a malformed length itself
        elif name == b"transfer-encoding":
            chunked = True
    return declared, chunked


def _too_large_messages(limit: int) -> tuple[Message, Message]:
    detail = f"{TOO_LARGE_DETAIL} (limit {limit} bytes)"
    body = json.dumps({"detail": detail}).encode()
    start: Message = {
        "type": "http.response.start", "status": 413,
        "headers": [(b"content-type", b"application/json"),
                    (b"content-length", str(len(body)).encode()),
                    (b"connection", b"close")],
    }
    return start, {"type": "http.response.body", "body": body}


class BodyLimitMiddleware:
    def __init__(self, app: ASGIApp, *, max_bytes: int) -> None:
        self.app = app
        self.max_bytes = max_bytes

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        if scope["type"] != "http":
            await self.app(scope, receive, send)
            return
        declared, chunked = _framing(scope)
        if declared is not None and declared > self.max_bytes:
            for message in _too_large_messages(self.max_bytes):
                await send(message)
            return
        if not chunked:
            # Framed by its declared length, or bodiless: nothing to count, and the hot path
            # (every GET) keeps the server's own receive and send.
            await self.app(scope, receive, send)
            return
        await _CountingExchange(self.max_bytes, receive, send).run(self.app, scope)


class _CountingExchange:
    """One request whose body is counted as the app reads it."""

    def __init__(self, limit: int, receive: Receive, send: Send) -> None:
        self.limit = limit
        self.received = 0
        self.refused = False
        self.answered = False
        self.response_started = False
        self._receive = receive
        self._send = send

    async def run(self, app: ASGIApp, scope: Scope) -> None:
        try:
            await app(scope, self.receive, self.send)
        except Exception:
            if not self.refused:
                raise
            # The client already has its 413; what the app made of the cut-off body
            # (usually a disconnect error) is of no further interest.
            log.debug("request refused as too large; app stopped with an error",
                      exc_info=True)

    async def receive(self) -> Message:
        if self.refused:
            return {"type": "http.disconnect"}
        message = await self._receive()
        if message["type"] != "http.request":
            return message
        self.received += len(message.get("body", b""))
        if self.received <= self.limit:
            return message
        self.refused = True
        if not self.response_started:
            self.answered = True
            for reply in _too_large_messages(self.limit):
                await self._send(reply)
        return {"type": "http.disconnect"}

    async def send(self, message: Message) -> None:
        if self.answered:
            return  # the client has its 413; the app's late answer goes nowhere
        if message["type"] == "http.response.start":
            self.response_started = True
        await self._send(message)
