"""openEHR REST errors: every failure under /openehr/v1 answers ``{"message", "code"}``.

The spec's error body carries ``message`` and ``validationErrors``; ``code`` names the
HTTP status in words so clients need not parse the message. /api keeps ``{"detail"}``.
"""

from __future__ import annotations

import logging
from collections.abc import Callable, Coroutine, Iterable
from typing import Any

from fastapi import Request, Response
from fastapi.exceptions import RequestValidationError
from fastapi.responses import JSONResponse
from fastapi.routing import APIRoute
from starlette.exceptions import HTTPException

from quill.errors import QuillError, Unauthenticated, Upstream
from quill.facades.requests import validation_issues
from quill.web.observability import request_id_of

log = logging.getLogger("quill.openehr")
CODES = {400: "BAD_REQUEST", 401: "UNAUTHORIZED", 403: "FORBIDDEN", 404: "NOT_FOUND",
         405: "METHOD_NOT_ALLOWED", 409: "CONFLICT", 412: "PRECONDITION_FAILED",
         422: "UNPROCESSABLE_ENTITY", 429: "TOO_MANY_REQUESTS", 501: "NOT_IMPLEMENTED",
         502: "BAD_GATEWAY", 503: "SERVICE_UNAVAILABLE", 504: "GATEWAY_TIMEOUT"}
# Bearer: the service token; an admin's session token works the same way.
CHALLENGE = {"WWW-Authenticate": 'Bearer realm="openehr"'}


def error_response(status: int, message: str, issues: Iterable[str] = (),
                   headers: dict[str, str] | None = None) -> JSONResponse:
    body = {"message": message, "code": CODES.get(status, "ERROR"),
            "validationErrors": list(issues)}
    return JSONResponse(body, status_code=status, headers=headers)


def _message(detail: Any) -> tuple[str, list[str]]:
    if isinstance(detail, dict):
        issues = detail.get("issues")
        return (str(detail.get("message", "Error")),
                [str(issue) for issue in issues] if isinstance(issues, list) else [])
    return str(detail), []


def quill_error_response(request: Request, exc: QuillError) -> JSONResponse:
    if isinstance(exc, Upstream):
        log.error("upstream failure: %s", exc.detail,
                  extra={"request_id": request_id_of(request)})
        return error_response(exc.status_code, exc.public_detail)
    message, issues = _message(exc.detail)
    headers = dict(exc.headers or {})
    if isinstance(exc, Unauthenticated):
        headers.update(CHALLENGE)
    return error_response(exc.status_code, message, issues, headers)


class OpenEhrRoute(APIRoute):
    """Answers the error tree, FastAPI's validation and HTTP errors in openEHR style."""

    def get_route_handler(self) -> Callable[[Request], Coroutine[Any, Any, Response]]:
        handler = super().get_route_handler()

        async def openehr_handler(request: Request) -> Response:
            try:
                return await handler(request)
            except QuillError as exc:
                return quill_error_response(request, exc)
            except RequestValidationError as exc:
                return error_response(400, "Invalid request", validation_issues(exc))
            except HTTPException as exc:
                return error_response(exc.status_code, str(exc.detail),
                                      headers=getattr(exc, "headers", None))

        return openehr_handler
