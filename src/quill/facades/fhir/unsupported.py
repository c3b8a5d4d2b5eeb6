"""Telling "not supported" apart from "not found": a known path with a method it does not
serve is 405 (with ``Allow``), a named operation (``$op``) is 501, an unknown resource type
stays 404. Clients read a 404 as "this resource does not exist"."""

from __future__ import annotations

from collections.abc import Callable, Iterable
from typing import Any

from fastapi.routing import APIRoute
from starlette.routing import BaseRoute

from quill.errors import NotAllowed, NotFound, NotImplementedByServer, QuillError
from quill.fhir.validation import check_type

EVERY_METHOD = ["GET", "POST", "PUT", "PATCH", "DELETE"]
# Path segments right under the base that are not resource types.
_SYSTEM_SEGMENTS = frozenset({"metadata", "_history"})


def operation_error(resource_type: str | None, operation: str) -> QuillError:
    if resource_type is not None:
        check_type(resource_type)  # an unknown type is 404 whatever follows it
    return NotImplementedByServer({"message": f"Operation ${operation[:64]} is not supported",
                                   "error_code": "not_supported"})


def history_error(resource_type: str | None) -> QuillError:
    """History across a type or the whole server: a known path with no method served."""
    if resource_type is not None:
        check_type(resource_type)
    return NotAllowed({"message": "History is served per resource only "
                       "(/Type/id/_history)", "error_code": "not_supported"},
                      headers={"Allow": ""})


def interaction_error(routes: Iterable[BaseRoute], fallbacks: set[Callable[..., Any]],
                      base: str, path: str) -> QuillError:
    """405 naming the methods the path does serve; 404 for a type or path that is unknown."""
    first = path.removeprefix(base).strip("/").split("/")[0]
    if first and first not in _SYSTEM_SEGMENTS:
        check_type(first)
    allowed = sorted({method for route in routes
                      if isinstance(route, APIRoute) and route.endpoint not in fallbacks
                      and route.path_regex.match(path)
                      for method in route.methods or () if method != "HEAD"})
    if not allowed:
        return NotFound({"message": "Unknown FHIR path", "error_code": "unknown_path"})
    return NotAllowed({"message": "This interaction is not supported here; allowed: "
                       f"{', '.join(allowed)}", "error_code": "not_supported"},
                      headers={"Allow": ", ".join(allowed)})
