"""The shared `limit`, `cursor` and id parameters of list routes (cursors: quill.db.keyset)."""

from __future__ import annotations

from typing import Annotated

from fastapi import Path, Query

from quill.db.keyset import MAX_CURSOR_LENGTH, MAX_DB_ID, MAX_LIMIT

LimitQuery = Annotated[int, Query(ge=1, le=MAX_LIMIT, description="Page size")]
CursorQuery = Annotated[str | None, Query(max_length=MAX_CURSOR_LENGTH,
                                          description="Opaque cursor from next_cursor")]
IdPath = Annotated[int, Path(ge=1, le=MAX_DB_ID)]
