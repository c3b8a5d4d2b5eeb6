"""Web Push in the browser: the service worker script at the site's root, and the page
with the switch that subscribes this browser.

Subscribing itself goes through the API (``GET /api/push/vapid-public-key``, then
``POST /api/push/subscribe`` with the CSRF header), from ``static/push.js``: a push
subscription only exists in the browser, so there is no form to post without JavaScript.
"""

from __future__ import annotations

from fastapi import APIRouter
from starlette.responses import FileResponse, Response

from quill.push.router import get_public_key
from quill.webapp.rendering import PAGE_HEADERS, STATIC_DIR, render
from quill.webapp.security import SignedIn

router = APIRouter(include_in_schema=False)

SERVICE_WORKER = STATIC_DIR / "sw.js"
JAVASCRIPT = "text/javascript; charset=utf-8"


@router.get("/sw.js")
async def service_worker() -> Response:
    """Served from the root, so its scope is the whole site (``/threads/...`` included);
    the header says so explicitly for browsers that are asked for scope ``/``."""
    return FileResponse(SERVICE_WORKER, media_type=JAVASCRIPT,
                        headers={**PAGE_HEADERS, "Service-Worker-Allowed": "/"})


@router.get("/account/notifications")
async def notifications(page: SignedIn) -> Response:
    configured = await get_public_key(page.request) is not None
    return render(page.request, "notifications.html", {"configured": configured})
