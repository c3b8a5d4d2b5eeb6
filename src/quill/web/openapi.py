"""One error body for the whole API, declared once in the OpenAPI document.

Every error Quill's API sends is ``{"detail": ...}`` where the detail is a message, a
``{message, error_code, ...}`` object (the contract's structured details), or the list of
field problems of a 422; a 500 adds ``request_id``. FastAPI would declare its own
``HTTPValidationError`` for 422s, which the NHS-number and demographics 422s do not match;
this module replaces every error response of every operation by the one ``Error`` schema
and adds it as the ``default`` response, so a client (or a schema-driven fuzzer) can rely
on the document for any status it did not list.
"""

from __future__ import annotations

from collections.abc import Callable
from typing import Any

from fastapi import FastAPI
from pydantic import BaseModel, ConfigDict, Field

ERROR_SCHEMA = "Error"
_ERROR_REF = {"$ref": f"#/components/schemas/{ERROR_SCHEMA}"}
_FASTAPI_VALIDATION_SCHEMAS = ("HTTPValidationError", "ValidationError")
_METHODS = frozenset({"get", "put", "post", "delete", "patch", "head", "options"})


class ValidationIssue(BaseModel):
    """One field that failed validation: where it is, what is wrong, and the error kind."""

    loc: list[str]
    msg: str
    type: str


class ErrorDetail(BaseModel):
    """A structured detail; some carry more fields (for example ``issues``)."""

    model_config = ConfigDict(extra="allow")

    message: str
    error_code: str


class Error(BaseModel):
    """The body of every error response of the API."""

    detail: str | ErrorDetail | list[ValidationIssue]
    request_id: str | None = Field(
        default=None, description="Only on 500: the id under which the failure was logged.")


def _error_response(description: str) -> dict[str, Any]:
    return {"description": description, "content": {"application/json": {"schema": _ERROR_REF}}}


def _declare_operation_errors(operation: dict[str, Any]) -> None:
    responses: dict[str, Any] = operation.setdefault("responses", {})
    for code, response in responses.items():
        if code.startswith(("4", "5")):
            description = response.get("description") or "Error"
            if description == "Validation Error":
                description = "Invalid input: field problems, or a value the rules refuse"
            responses[code] = _error_response(description)
    if "requestBody" in operation:
        responses.setdefault("413", _error_response(
            "Request body larger than the server's limit (QUILL_MAX_BODY_BYTES)"))
    responses["default"] = _error_response("Any other error, in the same shape")


def declare_errors(document: dict[str, Any]) -> None:
    """Rewrite ``document`` (an OpenAPI dict) so every error response is ``Error``."""
    components = document.setdefault("components", {}).setdefault("schemas", {})
    generated = Error.model_json_schema(ref_template="#/components/schemas/{model}")
    components.update(generated.pop("$defs", {}))
    components[ERROR_SCHEMA] = generated
    for name in _FASTAPI_VALIDATION_SCHEMAS:
        components.pop(name, None)
    for path_item in document.get("paths", {}).values():
        for method, operation in path_item.items():
            if method in _METHODS:
                _declare_operation_errors(operation)


def install_error_schema(app: FastAPI) -> None:
    """Make ``app.openapi()`` declare the one error body on every operation."""
    generate: Callable[[], dict[str, Any]] = app.openapi

    def openapi() -> dict[str, Any]:
        if app.openapi_schema is None:
            document = generate()
            declare_errors(document)
            app.openapi_schema = document
        return app.openapi_schema

    app.openapi = openapi  # type: ignore[method-assign]
