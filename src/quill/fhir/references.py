"""Local references (``Type/id``) inside a resource, wherever they sit: top-level elements,
nested backbone elements and extensions alike."""

from __future__ import annotations

import re
from typing import Any

from quill.fhir.port import Resource

# A relative literal reference, optionally version-specific. Absolute URLs, ``urn:``
# references, conditional references (``Type?query``) and ``#contained`` ones do not match.
_LOCAL = re.compile(r"([A-Z][A-Za-z]{1,63})/([A-Za-z0-9\-.]{1,64})"
                    r"(?:/_history/[A-Za-z0-9\-.]{1,64})?")
MAX_DEPTH = 64


def local_references(resource: Resource) -> set[tuple[str, str]]:
    """Every (type, id) the resource points at with a relative reference."""
    found: set[tuple[str, str]] = set()
    _walk(resource, found, 0)
    return found


def _walk(value: Any, found: set[tuple[str, str]], depth: int) -> None:
    if depth > MAX_DEPTH:
        return  # validated resources are far shallower; this only bounds the recursion
    if isinstance(value, list):
        for item in value:
            _walk(item, found, depth + 1)
        return
    if not isinstance(value, dict):
        return
    ref = value.get("reference")
    if isinstance(ref, str) and (match := _LOCAL.fullmatch(ref)):
        found.add((match.group(1), match.group(2)))
    for item in value.values():
        if isinstance(item, dict | list):
            _walk(item, found, depth + 1)
