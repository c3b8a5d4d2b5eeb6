"""Whether a live event stream may go on: its session still live, its user still active."""

from __future__ import annotations

import logging

from sqlalchemy.exc import SQLAlchemyError
from sqlalchemy.ext.asyncio import AsyncSession, async_sessionmaker

from quill.auth.sessions import live_session
from quill.clock import Clock
from quill.errors import ServiceUnavailable
from quill.events.stream import StillAllowed
from quill.identity.models import User

log = logging.getLogger("quill.events")


def still_allowed(session_factory: async_sessionmaker[AsyncSession], clock: Clock,
                  user_id: int, session_id: str) -> StillAllowed:
    async def check() -> bool:
        # A short session of its own: the request's session was released when the
        # endpoint returned, so a long stream holds no database connection.
        try:
            async with session_factory() as db:
                session = await live_session(db, session_id, clock.now())
                user = await db.get(User, user_id)
        except (SQLAlchemyError, OSError, ServiceUnavailable):
            log.warning("could not re-check a stream's session; ending it", exc_info=True)
            return False
        return (session is not None and session.user_id == user_id
                and user is not None and user.is_active)

    return check
