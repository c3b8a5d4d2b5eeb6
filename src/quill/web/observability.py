"""Request id, per-request JSON log line, security and no-store headers, metrics and the
500 safety net.

Written as one pure ASGI middleware: it is on every request's hot path, and a single
layer keeps the overhead to a dictionary update and one log call.
"""

from __future__ import annotations

import json
import logging
import re
import time
import uuid
from typing import Any

from prometheus_client import CollectorRegistry, Counter, Histogram
from starlette.requests import HTTPConnection
from starlette.types import ASGIApp, Message, Receive, Scope, Send

log = logging.getLogger("quill.request")
_VALID_REQUEST_ID = re.compile(r"^[A-Za-z0-9._-]{8,128}$")


class Metrics:
    """Prometheus collectors owned by one app instance (no global registry)."""

    def __init__(self) -> None:
        self.registry = CollectorRegistry()
        self.requests = Counter(
            "quill_http_requests_total", "HTTP requests served",
            ["method", "route", "status"], registry=self.registry,
        )
        self.latency = Histogram(
            "quill_http_request_duration_seconds", "HTTP request latency",
            ["method", "route"], registry=self.registry,
        )
        self.store_latency = Histogram(
            "quill_store_operation_duration_seconds", "FHIR/openEHR store operation latency",
            ["store", "operation"], registry=self.registry,
        )
        # labels() looks its child up under a lock with argument checks on every call;
        # the few (method, route, status) combinations are kept at hand instead.
        self._children: dict[tuple[str, str, str], tuple[Any, Any]] = {}

    def observe_request(self, method: str, route: str, status: str, seconds: float) -> None:
        key = (method, route, status)
        children = self._children.get(key)
        if children is None:
            children = (self.requests.labels(method, route, status),
                        self.latency.labels(method, route))
            self._children[key] = children
        counter, histogram = children
        counter.inc()
        histogram.observe(seconds)


def _security_headers(secure: bool) -> list[tuple[bytes, bytes]]:
    headers = [
        (b"x-content-type-options", b"nosniff"),
        (b"x-frame-options", b"DENY"),
        (b"referrer-policy", b"no-referrer"),
        (b"cross-origin-opener-policy", b"same-origin"),
        (b"cache-control", b"no-store"),
    ]
    if secure:
        headers.append((b"strict-transport-security", b"max-age=63072000; includeSubDomains"))
    return headers


def _incoming_request_id(scope: Scope) -> str:
    for name, value in scope.get("headers", ()):
        if name == b"x-request-id":
            candidate = bytes(value).decode("latin-1")
            if _VALID_REQUEST_ID.match(candidate):
                return candidate
            break
    return str(uuid.uuid4())


def request_id_of(request: HTTPConnection) -> str:
    """The id ObservabilityMiddleware gave this request (empty outside it)."""
    state = request.scope.get("state")
    return str(state.get("request_id", "")) if isinstance(state, dict) else ""


def route_template(scope: Scope) -> str:
    """The matched route's template (``/api/patients/{patient_id}``), or ``unmatched``.

    The router leaves the route it chose in the scope; a label per template, not per
    path, keeps metric cardinality bounded.
    """
    template = getattr(scope.get("route"), "path_format", None)
    return template if isinstance(template, str) else "unmatched"


class ObservabilityMiddleware:
    def __init__(self, app: ASGIApp, *, metrics: Metrics, secure: bool) -> None:
        self.app = app
        self.metrics = metrics
        self.extra_headers = _security_headers(secure)

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        if scope["type"] != "http":
            await self.app(scope, receive, send)
            return
        request_id = _incoming_request_id(scope)
        state: dict[str, Any] = scope.setdefault("state", {})
        state["request_id"] = request_id
        started = time.perf_counter()
        status = 500
        response_started = False

        async def send_wrapper(message: Message) -> None:
            nonlocal status, response_started
            if message["type"] == "http.response.start":
                response_started = True
                status = int(message["status"])
                # Every answer may carry patient data or tokens: no cache may keep it, and
                # a route's own Cache-Control (e.g. the stream's no-cache) gives way.
                headers = [(name, value) for name, value in message.get("headers", [])
                           if bytes(name).lower() != b"cache-control"]
                headers.append((b"x-request-id", request_id.encode()))
                headers.extend(self.extra_headers)
                message = {**message, "headers": headers}
            await send(message)

        try:
            await self.app(scope, receive, send_wrapper)
        except Exception:
            log.exception("unhandled error", extra={"request_id": request_id})
            status = 500
            if not response_started:
                body = json.dumps(
                    {"detail": "Internal server error", "request_id": request_id}
                ).encode()
                await send_wrapper({
                    "type": "http.response.start", "status": 500,
                    "headers": [(b"content-type", b"application/json"),
                                (b"content-length", str(len(body)).encode())],
                })
                await send({"type": "http.response.body", "body": body})
        finally:
            self._record(scope, state, status, time.perf_counter() - started)

    def _record(self, scope: Scope, state: dict[str, Any], status: int, seconds: float) -> None:
        route = route_template(scope)
        method = scope.get("method", "")
        self.metrics.observe_request(method, route, str(status), seconds)
        if not log.isEnabledFor(logging.INFO):
            return
        # makeRecord + handle rather than log.info: the line's origin is always this
        # method, so the stack walk logging does to find the caller is skipped.
        fields = {
            "request_id": state.get("request_id"),
            "method": method,
            "route": route,
            "status": status,
            "duration_ms": round(seconds * 1000, 2),
            "user_id": state.get("user_id"),
        }
        log.handle(log.makeRecord(log.name, logging.INFO, __file__, 0, "request", (), None,
                                  extra=fields))
