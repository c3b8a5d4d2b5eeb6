"""Maps the domain error tree and validation errors to HTTP, in one place."""

from __future__ import annotations

import logging
from typing import Any

from fastapi import FastAPI, Request
from fastapi.exceptions import RequestValidationError
from fastapi.responses import JSONResponse
from starlette.exceptions import HTTPException as StarletteHTTPException

from quill.errors import QuillError, ServiceUnavailable, Upstream
from quill.web.observability import request_id_of

log = logging.getLogger("quill.errors")


def _jsonable_errors(exc: RequestValidationError) -> list[dict[str, Any]]:
    out: list[dict[str, Any]] = []
    for error in exc.errors():
        out.append({
            "loc": [str(part) for part in error.get("loc", ())],
            "msg": str(error.get("msg", "")),
            "type": str(error.get("type", "")),
        })
    return out


async def handle_quill_error(request: Request, exc: Exception) -> JSONResponse:
    if not isinstance(exc, QuillError):
        raise exc
    detail: Any = exc.detail
    if isinstance(exc, ServiceUnavailable):
        # One line naming the dependency and why; the client learns only to retry.
        log.warning("%s unavailable: %s", exc.dependency, exc.reason,
                    extra={"request_id": request_id_of(request), "dependency": exc.dependency})
    elif isinstance(exc, Upstream):
        log.error("upstream failure: %s", exc.detail,
                  extra={"request_id": request_id_of(request)})
        detail = exc.public_detail
    return JSONResponse({"detail": detail}, status_code=exc.status_code, headers=exc.headers)


async def handle_validation_error(request: Request, exc: Exception) -> JSONResponse:
    if not isinstance(exc, RequestValidationError):
        raise exc
    return JSONResponse({"detail": _jsonable_errors(exc)}, status_code=422)


async def handle_http_error(request: Request, exc: Exception) -> JSONResponse:
    if not isinstance(exc, StarletteHTTPException):
        raise exc
    return JSONResponse({"detail": exc.detail}, status_code=exc.status_code,
                        headers=getattr(exc, "headers", None))


def internal_error_response(request: Request) -> JSONResponse:
    return JSONResponse(
        {"detail": "Internal server error", "request_id": request_id_of(request)},
        status_code=500,
    )


def install_error_handlers(app: FastAPI) -> None:
    app.add_exception_handler(QuillError, handle_quill_error)
    app.add_exception_handler(RequestValidationError, handle_validation_error)
    app.add_exception_handler(StarletteHTTPException, handle_http_error)
