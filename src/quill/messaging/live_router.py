"""GET /api/conversations/events: the caller's live events as Server-Sent Events.

Must be included before any ``/conversations/{id}`` route so that path cannot shadow it.
"""

from __future__ import annotations

import logging
from typing import Any

from fastapi import Depends, Response
from fastapi.responses import StreamingResponse
from sqlalchemy.exc import SQLAlchemyError

from quill.auth.deps import CurrentCaller
from quill.auth.sessions import live_session
from quill.errors import ServiceDisabled
from quill.events.stream import EventStreamResponse, StillAllowed, event_frames
from quill.identity.models import User
from quill.runtime import Runtime
from quill.web.deps import RuntimeDep
from quill.web.routing import api_router

log = logging.getLogger("quill.events")


async def clinical_services_on(runtime: RuntimeDep) -> None:
    # Live events belong to messaging, a clinical service (contract: "Clinical services switch").
    if not runtime.settings.clinical_services_enabled:
        raise ServiceDisabled("Clinical services are disabled")


router = api_router(tags=["conversations"], dependencies=[Depends(clinical_services_on)])

_STREAM_DOC: dict[int | str, dict[str, Any]] = {
    200: {
        "description": "`event: message.created|conversation.updated` with "
                       '`data: {"conversation_id": <id>, "message_id": <id or null>}`; '
                       "a `: ping` comment when idle.",
        "content": {"text/event-stream": {"schema": {"type": "string"}}},
    },
    401: {"description": "Not authenticated"},
    503: {"description": "Clinical services are disabled"},
}


def _still_allowed(runtime: Runtime, user_id: int, session_id: str) -> StillAllowed:
    async def check() -> bool:
        # A short session of its own: the request's session was released when the
        # endpoint returned, so a long stream holds no database connection.
        try:
            async with runtime.session_factory() as db:
                session = await live_session(db, session_id, runtime.clock.now())
                user = await db.get(User, user_id)
        except (SQLAlchemyError, OSError):
            log.warning("could not re-check a stream's session; ending it", exc_info=True)
            return False
        return (session is not None and session.user_id == user_id
                and user is not None and user.is_active)

    return check


# A plain endpoint that returns the streaming response (not a generator endpoint): the
# request's dependencies, and so its database session, close when it returns, before the
# stream starts.
@router.get("/conversations/events", response_class=StreamingResponse, responses=_STREAM_DOC)
async def conversation_events(caller: CurrentCaller, runtime: RuntimeDep) -> Response:
    frames = event_frames(
        runtime.events, caller.user_id, ping_seconds=runtime.settings.events_ping_seconds,
        still_allowed=_still_allowed(runtime, caller.user_id, caller.session_id),
    )
    return EventStreamResponse(frames)
