"""Opaque keyset cursors over integer ids, shared by list routes."""

from __future__ import annotations

import base64
import binascii
from typing import Annotated

from fastapi import Path, Query

from quill.errors import Invalid

DEFAULT_LIMIT = 50
MAX_LIMIT = 200

LimitQuery = Annotated[int, Query(ge=1, le=MAX_LIMIT)]
CursorQuery = Annotated[str | None, Query(max_length=200)]


def encode_cursor(last_id: int) -> str:
    return base64.urlsafe_b64encode(f"id:{last_id}".encode()).decode().rstrip("=")


def decode_cursor(cursor: str | None) -> int | None:
    """The id after which the next page starts; a tampered cursor is a 400."""
    if cursor is None or cursor == "":
        return None
    try:
        raw = base64.urlsafe_b64decode(cursor + "=" * (-len(cursor) % 4)).decode()
    except (binascii.Error, UnicodeDecodeError, ValueError) as exc:
        raise Invalid("Invalid cursor") from exc
    prefix, _, number = raw.partition(":")
    if prefix != "id" or not number.isdigit() or len(number) > 18:
        raise Invalid("Invalid cursor")
    return int(number)


def next_cursor(ids: list[int], limit: int) -> str | None:
    """Callers fetch ``limit + 1`` rows; a full extra row means there is a next page."""
    return encode_cursor(ids[limit - 1]) if len(ids) > limit else None


# Integer primary keys are 32-bit on PostgreSQL; larger path or body ids are a 422, not a
# driver error.
MAX_DB_ID = 2_147_483_647
IdPath = Annotated[int, Path(ge=1, le=MAX_DB_ID)]
