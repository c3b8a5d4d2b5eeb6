"""Home: my threads, those with unread messages first, and the patient search box."""

from __future__ import annotations

from fastapi import APIRouter
from starlette.responses import Response

from quill.messaging.router import get_service as get_messaging_service
from quill.messaging.service import ThreadSummary
from quill.web.wiring import platform_of
from quill.webapp.notices import notice_for
from quill.webapp.rendering import render
from quill.webapp.sections import shows_feature
from quill.webapp.security import SignedIn

router = APIRouter(include_in_schema=False)

# The newest threads by activity; the full list (paged) is the threads page's job.
HOME_THREADS = 50


def unread_first(threads: list[ThreadSummary]) -> list[ThreadSummary]:
    """Threads with unread messages first; each group keeps newest activity first."""
    return sorted(threads, key=lambda thread: thread.row.unread_count == 0)


@router.get("/")
async def home(page: SignedIn, done: str = "") -> Response:
    clinical = platform_of(page.request).settings.clinical_services_enabled
    threads: list[ThreadSummary] = []
    more = False
    if clinical and shows_feature(page.caller, "messaging"):
        service = await page.service(get_messaging_service)
        listing = await service.list_mine(status=None, patient_id=None, limit=HOME_THREADS,
                                          cursor=None)
        threads, more = unread_first(listing.threads), listing.next_cursor is not None
    return render(page.request, "home.html", {
        "clinical": clinical, "threads": threads, "more": more,
        "unread_total": sum(thread.row.unread_count for thread in threads),
        "notice": notice_for(done),
    })
