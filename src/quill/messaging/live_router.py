"""GET /api/conversations/events: the caller's live events as Server-Sent Events.

Must be included before any ``/conversations/{id}`` route so that path cannot shadow it.
"""

from __future__ import annotations

from typing import Any

from fastapi import Depends, Request, Response
from fastapi.responses import StreamingResponse

from quill.auth.deps import CurrentCaller
from quill.errors import ServiceDisabled
from quill.events.shutdown import ShutdownNotice
from quill.events.stream import EventStreamResponse, open_event_stream
from quill.messaging.live import still_allowed
from quill.web.deps import PlatformDep
from quill.web.routing import api_router
from quill.web.wiring import wiring_of


async def clinical_services_on(platform: PlatformDep) -> None:
    # Live events belong to messaging, a clinical service (contract: "Clinical services switch").
    if not platform.settings.clinical_services_enabled:
        raise ServiceDisabled("Clinical services are disabled")


router = api_router(tags=["conversations"], dependencies=[Depends(clinical_services_on)])

_STREAM_DOC: dict[int | str, dict[str, Any]] = {
    200: {
        "description": "`event: message.created|conversation.updated` with "
                       '`data: {"conversation_id": <id>, "message_id": <id or null>}`; '
                       "a `: ping` comment when idle; when the server shuts down, a last "
                       "`retry: <milliseconds>` block before the stream ends.",
        "content": {"text/event-stream": {"schema": {"type": "string"}}},
    },
    401: {"description": "Not authenticated"},
    503: {"description": "Clinical services are disabled, or live events are unavailable "
                         "(`Retry-After` says when to try again)"},
}


# A plain endpoint that returns the streaming response (not a generator endpoint): the
# request's dependencies, and so its database session, close when it returns, before the
# stream starts.
@router.get("/conversations/events", response_class=StreamingResponse, responses=_STREAM_DOC)
async def conversation_events(caller: CurrentCaller, platform: PlatformDep,
                              request: Request) -> Response:
    frames = await open_event_stream(
        platform.events, caller.user_id, ping_seconds=platform.settings.events_ping_seconds,
        recheck_seconds=platform.settings.events_recheck_seconds,
        still_allowed=still_allowed(platform.session_factory, platform.clock, caller.user_id,
                                    caller.session_id),
        shutdown=wiring_of(request).get(ShutdownNotice),
    )
    return EventStreamResponse(frames)
