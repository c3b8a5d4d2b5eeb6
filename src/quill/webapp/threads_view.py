"""What the thread templates show, shaped from what the messaging service read.

No queries and no rules here: which statuses a thread may move to is the service's
``ALLOWED_TRANSITIONS``; this module only puts labels and links on it.
"""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass
from datetime import datetime

from quill.messaging.repository import MessageRow

FORMER_USER = "Former user"


@dataclass(frozen=True)
class MessageView:
    id: int
    sender: str
    sender_id: int | None
    body: str
    created_at: datetime
    amends_id: int | None
    amended_by: int | None  # the latest message that amends this one
    mine: bool


def message_views(rows: list[MessageRow], caller_id: int) -> list[MessageView]:
    """Messages oldest first, each knowing whether (and by which message) it was amended."""
    amended_by: dict[int, int] = {}
    for row in rows:
        if row.message.amends_id is not None:
            amended_by[row.message.amends_id] = row.message.id
    return [
        MessageView(
            id=row.message.id,
            sender=row.sender_full_name or row.sender_username or FORMER_USER,
            sender_id=row.message.sender_id, body=row.message.body,
            created_at=row.message.created_at, amends_id=row.message.amends_id,
            amended_by=amended_by.get(row.message.id),
            mine=row.message.sender_id == caller_id,
        )
        for row in rows
    ]


def status_choices(current: str, transitions: Mapping[str, frozenset[str]]) -> list[str]:
    """The statuses this thread may move to, in the order a person expects them."""
    allowed = transitions.get(current, frozenset())
    order = ("new", "active", "resolved", "closed")
    return [status for status in order if status in allowed]
