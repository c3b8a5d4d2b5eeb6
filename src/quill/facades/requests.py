"""What both facades share about requests FastAPI refused before a route ran."""

from __future__ import annotations

from fastapi.exceptions import RequestValidationError


def validation_issues(exc: RequestValidationError) -> list[str]:
    """One ``location: message`` line per problem, for an OperationOutcome or openEHR error."""
    return [f"{'.'.join(str(p) for p in e.get('loc', ()))}: {e.get('msg', '')}"
            for e in exc.errors()]
