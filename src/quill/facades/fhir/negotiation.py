"""Content negotiation: the facade speaks JSON only, so a client that asks for XML (by
``_format`` or ``Accept``) gets 406 rather than JSON it did not ask for."""

from __future__ import annotations

from fastapi import Request

from quill.errors import NotAcceptable

# What ``_format`` may name (R4 lists the short form and the MIME types).
_JSON_FORMATS = frozenset({"json", "application/json", "application/fhir+json",
                           "application/json+fhir"})
# What an Accept header may name for a JSON answer.
_ACCEPTED = _JSON_FORMATS | {"*/*", "application/*"}


def _acceptable(entry: str) -> bool:
    media, *params = (part.strip().lower() for part in entry.split(";"))
    refused = any(p.replace(" ", "") in ("q=0", "q=0.0", "q=0.00", "q=0.000") for p in params)
    return media in _ACCEPTED and not refused


async def require_json(request: Request) -> None:
    """Async so it runs on the event loop, not in the thread pool (a cheap header check)."""
    for value in request.query_params.getlist("_format"):
        if value.strip().lower() not in _JSON_FORMATS:
            raise NotAcceptable({"message": "This server answers in application/fhir+json "
                                 "only", "error_code": "not_acceptable"})
    accept = request.headers.get("accept", "").strip()
    if accept and not any(_acceptable(entry) for entry in accept.split(",")):
        raise NotAcceptable({"message": "This server answers in application/fhir+json only",
                             "error_code": "not_acceptable"})
