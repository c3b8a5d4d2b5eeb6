"""Default mailer: stores each message in the outbox table and logs that it did."""

from __future__ import annotations

import logging

from sqlalchemy.ext.asyncio import AsyncSession, async_sessionmaker

from quill.clock import Clock
from quill.email.models import OutboxEmail

log = logging.getLogger("quill.email")


class OutboxMailer:
    def __init__(self, session_factory: async_sessionmaker[AsyncSession], clock: Clock) -> None:
        self._session_factory = session_factory
        self._clock = clock

    async def send(self, to: str, subject: str, body: str) -> None:
        async with self._session_factory() as db, db.begin():
            message = OutboxEmail(recipient=to, subject=subject[:300], body=body,
                                  created_at=self._clock.now())
            db.add(message)
            await db.flush()
            outbox_id = message.id
        # The body carries links with secrets (reset tokens, invites): never log it.
        log.info("email stored in outbox",
                 extra={"outbox_id": outbox_id, "to": to, "subject": subject})
