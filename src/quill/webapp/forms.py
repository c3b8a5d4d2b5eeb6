"""Reading a posted form into the API's own request schema, and errors a person can read.

Pages validate with the same Pydantic schemas as the JSON routes, so a limit or pattern
is written once; only the words shown to a person are the page's own.
"""

from __future__ import annotations

from collections.abc import Mapping
from typing import TypeVar

from pydantic import BaseModel, ValidationError
from starlette.requests import Request

from quill.errors import QuillError
from quill.webapp.security import CSRF_FIELD

M = TypeVar("M", bound=BaseModel)
FORM_ERROR = "_form"  # key of an error about the whole form rather than one field


async def form_values(request: Request, *names: str) -> dict[str, str]:
    """The named text fields of the posted form ('' when absent); files are ignored."""
    form = await request.form()
    values: dict[str, str] = {}
    for name in names:
        if name == CSRF_FIELD:
            continue
        value = form.get(name)
        values[name] = value if isinstance(value, str) else ""
    return values


def validate(model: type[M], values: Mapping[str, object], messages: Mapping[str, str]
             ) -> tuple[M | None, dict[str, str]]:
    """The parsed model, or None and one message per failing field (from ``messages``)."""
    try:
        return model.model_validate(dict(values)), {}
    except ValidationError as exc:
        errors: dict[str, str] = {}
        for problem in exc.errors():
            field = str(problem["loc"][0]) if problem.get("loc") else FORM_ERROR
            errors.setdefault(field, messages.get(field, "Check this answer"))
        return None, errors


def message_of(error: QuillError) -> str:
    """The text of a service's error: its message, for a structured detail."""
    detail = error.detail
    if isinstance(detail, dict):
        return str(detail.get("message", "Something went wrong"))
    return str(detail)
