"""Opaque keyset cursors: the sort key of the last row of a page, as base64url JSON.

Datetimes keep their timezone. Every list in Quill (API lists, the FHIR and openEHR stores)
uses these functions, so a cursor is decoded the same way everywhere and a tampered one is
a 400.
"""

from __future__ import annotations

import base64
import binascii
import json
from datetime import datetime
from typing import Annotated, Any

from pydantic import Field

from quill.errors import Invalid

DEFAULT_LIMIT = 50
MAX_LIMIT = 200
MAX_CURSOR_LENGTH = 512
# Integer primary keys are 32-bit on PostgreSQL; larger path or body ids are a 422, not a
# driver error.
MAX_DB_ID = 2_147_483_647
# A database id in a request body; its bounds appear in the OpenAPI document.
DbId = Annotated[int, Field(ge=1, le=MAX_DB_ID)]


def _plain(value: Any) -> Any:
    return {"$dt": value.isoformat()} if isinstance(value, datetime) else value


def _restore(value: Any) -> Any:
    if isinstance(value, dict) and set(value) == {"$dt"}:
        moment = datetime.fromisoformat(str(value["$dt"]))
        if moment.tzinfo is None:
            raise ValueError("cursor time without a timezone")
        return moment
    return value


def encode_values(*values: Any) -> str:
    raw = json.dumps([_plain(v) for v in values], separators=(",", ":")).encode()
    return base64.urlsafe_b64encode(raw).decode().rstrip("=")


def decode_values(token: str, *types: type) -> list[Any]:
    """Decode a cursor made by encode_values whose values have exactly these types."""
    try:
        padded = token + "=" * (-len(token) % 4)
        values = json.loads(base64.urlsafe_b64decode(padded.encode()))
        if not isinstance(values, list) or len(values) != len(types):
            raise ValueError("wrong shape")
        restored = [_restore(v) for v in values]
    except (ValueError, TypeError, binascii.Error, UnicodeDecodeError, RecursionError) as exc:
        raise Invalid("Invalid cursor") from exc
    for value, expected in zip(restored, types, strict=True):
        # bool is an int subclass; a cursor never mixes them up.
        if not isinstance(value, expected) or (expected is int and isinstance(value, bool)):
            raise Invalid("Invalid cursor")
    return restored


def encode_cursor(last_id: int) -> str:
    return encode_values(last_id)


def decode_cursor(cursor: str | None) -> int | None:
    """The id after which the next page starts; a tampered cursor is a 400."""
    if not cursor:
        return None
    (last_id,) = decode_values(cursor, int)
    return int(last_id)


def next_cursor(ids: list[int], limit: int) -> str | None:
    """Callers fetch ``limit + 1`` rows; a full extra row means there is a next page."""
    return encode_cursor(ids[limit - 1]) if len(ids) > limit else None
