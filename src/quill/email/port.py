"""The mail port every part of Quill sends through (``runtime.mailer``)."""

from __future__ import annotations

import logging
from typing import Protocol

from fastapi import BackgroundTasks

log = logging.getLogger("quill.email")


class Mailer(Protocol):
    async def send(self, to: str, subject: str, body: str) -> None: ...


async def _send_logged(mailer: Mailer, to: str, subject: str, body: str) -> None:
    try:
        await mailer.send(to, subject, body)
    except Exception:
        # The request has already succeeded; a mail failure must not turn into a 500.
        log.exception("email delivery failed", extra={"subject": subject})


def send_after_response(
    background: BackgroundTasks, mailer: Mailer, to: str, subject: str, body: str
) -> None:
    """Send once the request's transaction has committed and the response has left.

    Sending inside the request would hold it up on a slow mail server, would let its
    duration reveal whether a mail was sent, and (for the outbox on SQLite) would need a
    second write transaction while the request still holds the write lock.
    """
    background.add_task(_send_logged, mailer, to, subject, body)
