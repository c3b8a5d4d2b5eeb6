"""PATCH with JSON Patch (RFC 6902): which bodies are a patch, and applying one to a stored
resource so that only the elements the patch names change."""

from __future__ import annotations

import copy
from typing import Any

import jsonpatch
import jsonpointer

from quill.errors import Invalid, Unprocessable, UnsupportedMediaType
from quill.fhir.port import Resource

JSON_PATCH = "application/json-patch+json"
MAX_OPERATIONS = 200


def patch_operations(content_type: str, body: Any) -> list[dict[str, Any]]:
    """The patch document, or 415 for a body that is not JSON Patch.

    ``application/json`` is taken too when the body is an array: a patch document always
    is one, and some clients send the generic type.
    """
    media = content_type.split(";")[0].strip().lower()
    if media not in (JSON_PATCH, "application/json") or (
            media == "application/json" and not isinstance(body, list)):
        raise UnsupportedMediaType({"message": f"PATCH accepts {JSON_PATCH} only",
                                    "error_code": "unsupported_patch_format"})
    if not isinstance(body, list) or not all(isinstance(op, dict) for op in body):
        raise Invalid("A JSON Patch document is an array of operations")
    if len(body) > MAX_OPERATIONS:
        raise Invalid(f"A JSON Patch holds at most {MAX_OPERATIONS} operations")
    return body


def apply_patch(resource: Resource, operations: list[dict[str, Any]]) -> Resource:
    """The patched copy. The patch may not change what the resource is (type and id); the
    store sets meta.versionId and lastUpdated afterwards. A patch that does not apply is
    422."""
    try:
        patch = jsonpatch.JsonPatch(operations)
        patched = patch.apply(copy.deepcopy(resource))
    except jsonpatch.InvalidJsonPatch as exc:
        raise Invalid(f"Invalid JSON Patch: {str(exc)[:200]}") from exc
    except (jsonpatch.JsonPatchException, jsonpointer.JsonPointerException) as exc:
        raise Unprocessable({"message": "The patch does not apply to the current version",
                             "error_code": "patch_failed", "issues": [str(exc)[:200]]}) from exc
    except (TypeError, ValueError, KeyError, IndexError) as exc:
        raise Invalid(f"Invalid JSON Patch: {str(exc)[:200]}") from exc
    if not isinstance(patched, dict):
        raise Unprocessable("The patched document is not a resource")
    for element in ("resourceType", "id"):
        if patched.get(element) != resource.get(element):
            raise Unprocessable(f"A patch may not change {element}")
    return patched
