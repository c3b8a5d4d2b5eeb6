"""Validation of resources against the ``fhir.resources`` R4B models."""

from __future__ import annotations

from typing import Any

from fhir.resources.R4B import get_fhir_model_class
from pydantic import ValidationError

from quill.errors import Invalid, NotFound, Unprocessable
from quill.fhir.bindings import binding_issues
from quill.fhir.port import Resource
from quill.fhir.searchparams import SUPPORTED_TYPES

MAX_ISSUES = 20


def check_type(resource_type: str) -> str:
    if resource_type not in SUPPORTED_TYPES:
        raise NotFound({"message": f"Unknown or unsupported resource type: {resource_type[:64]}",
                        "error_code": "unknown_resource_type"})
    return resource_type


def invalid_resource(resource_type: str, issues: list[str]) -> Unprocessable:
    return Unprocessable({"message": f"Invalid {resource_type} resource",
                          "error_code": "invalid_resource", "issues": issues[:MAX_ISSUES]})


def _issues(exc: ValidationError) -> list[str]:
    out: list[str] = []
    for error in exc.errors():
        location = ".".join(str(part) for part in error.get("loc", ())) or "(resource)"
        out.append(f"{location}: {error.get('msg', 'invalid')}")
    return out


def _has_nul(value: Any) -> bool:
    if isinstance(value, str):
        return "\x00" in value
    if isinstance(value, dict):
        return any(_has_nul(k) or _has_nul(v) for k, v in value.items())
    if isinstance(value, list):
        return any(_has_nul(item) for item in value)
    return False


def validate_resource(resource: Any, resource_type: str | None = None) -> Resource:
    """Check shape and R4B validity; returns the resource (unchanged) as a dict."""
    if not isinstance(resource, dict):
        raise Invalid({"message": "A FHIR resource must be a JSON object",
                       "error_code": "invalid_resource"})
    declared = resource.get("resourceType")
    if not isinstance(declared, str) or not declared:
        raise Invalid({"message": "resourceType is missing", "error_code": "invalid_resource"})
    if resource_type is not None and declared != resource_type:
        raise Invalid({"message": f"resourceType {declared[:64]} does not match {resource_type}",
                       "error_code": "invalid_resource"})
    check_type(declared)
    if _has_nul(resource):
        raise invalid_resource(declared, ["strings must not contain NUL characters"])
    try:
        get_fhir_model_class(declared).model_validate(resource)
    except ValidationError as exc:
        raise invalid_resource(declared, _issues(exc)) from exc
    except (ValueError, TypeError, RecursionError) as exc:
        raise invalid_resource(declared, [str(exc)[:200]]) from exc
    return resource


def validate_for_write(resource: Any, resource_type: str | None = None) -> Resource:
    """What a store accepts: an R4B-valid resource whose required bindings hold too.

    Reads from another server are checked with ``validate_resource`` only, so a code that
    server accepted never makes its data unreadable here.
    """
    checked = validate_resource(resource, resource_type)
    if issues := binding_issues(checked):
        raise invalid_resource(str(checked["resourceType"]), issues)
    return checked
