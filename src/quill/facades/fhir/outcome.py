"""OperationOutcome responses for the facade: its routes answer errors in FHIR, while
/api keeps ``{"detail": ...}``."""

from __future__ import annotations

import logging
from collections.abc import Callable, Coroutine
from typing import Any

from fastapi import Request, Response
from fastapi.exceptions import RequestValidationError
from fastapi.responses import JSONResponse
from fastapi.routing import APIRoute

from quill.errors import QuillError, Upstream
from quill.facades.requests import validation_issues
from quill.web.observability import request_id_of

log = logging.getLogger("quill.fhir")
FHIR_JSON = "application/fhir+json"
_CODES = {400: "invalid", 401: "login", 403: "forbidden", 404: "not-found",
          405: "not-supported", 406: "not-supported", 409: "conflict", 410: "deleted",
          412: "conflict", 415: "not-supported", 422: "processing", 501: "not-supported",
          504: "timeout"}


class FhirResponse(JSONResponse):
    media_type = FHIR_JSON


def operation_outcome(status: int, message: str, issues: list[str] | None = None
                      ) -> dict[str, Any]:
    code = _CODES.get(status, "exception")
    entries = [{"severity": "error", "code": code, "diagnostics": message}]
    entries += [{"severity": "error", "code": code, "diagnostics": issue}
                for issue in issues or []]
    return {"resourceType": "OperationOutcome", "issue": entries}


def _message(detail: Any) -> tuple[str, list[str]]:
    if isinstance(detail, dict):
        issues = detail.get("issues")
        return (str(detail.get("message", "Error")),
                [str(i) for i in issues] if isinstance(issues, list) else [])
    return str(detail), []


def outcome_response(status: int, message: str, issues: list[str] | None = None,
                     headers: dict[str, str] | None = None) -> FhirResponse:
    return FhirResponse(operation_outcome(status, message, issues), status_code=status,
                        headers=headers)


def error_response(request: Request, exc: QuillError) -> FhirResponse:
    if isinstance(exc, Upstream):
        log.error("upstream failure: %s", exc.detail,
                  extra={"request_id": request_id_of(request)})
        return outcome_response(exc.status_code, exc.public_detail)
    message, issues = _message(exc.detail)
    return outcome_response(exc.status_code, message, issues, exc.headers)


class FhirRoute(APIRoute):
    """Catches the error tree (and FastAPI's own validation) inside the facade's routes."""

    def get_route_handler(self) -> Callable[[Request], Coroutine[Any, Any, Response]]:
        handler = super().get_route_handler()

        async def fhir_handler(request: Request) -> Response:
            try:
                return await handler(request)
            except QuillError as exc:
                return error_response(request, exc)
            except RequestValidationError as exc:
                return outcome_response(400, "Invalid request", validation_issues(exc))

        return fhir_handler
