"""Options shared by the Alembic environment and the models-versus-migrations check."""

from __future__ import annotations

from typing import Any

from quill.db.base import UtcDateTime
from quill.migrations.tables import metadata


def _render_item(type_: str, obj: Any, autogen_context: Any) -> str | bool:
    if type_ == "type" and isinstance(obj, UtcDateTime):
        return "sa.DateTime(timezone=True)"
    return False


def compare_options() -> dict[str, Any]:
    return {
        "target_metadata": metadata,
        "compare_type": True,
        "render_as_batch": True,
        "render_item": _render_item,
    }
