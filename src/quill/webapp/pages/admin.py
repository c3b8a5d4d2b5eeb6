"""What every administrator page shares: the admin gate, a savepoint around each change,
and the /admin landing page.

The gate is the API's own (``require_admin``: 403 for anyone below admin), applied after
the page's caller is resolved, so a signed-out visitor is still sent to sign in.
"""

from __future__ import annotations

from collections.abc import Awaitable, Callable
from typing import Annotated, TypeVar

from fastapi import APIRouter, Depends, Query
from starlette.responses import Response

from quill.auth.deps import require_admin
from quill.errors import QuillError
from quill.identity.models import User
from quill.users.router import get_service as get_user_service
from quill.webapp.rendering import render
from quill.webapp.security import Page, SignedIn

T = TypeVar("T")
router = APIRouter(include_in_schema=False)
# Search boxes: the same bound as the API's own search parameters.
SearchQuery = Annotated[str, Query(max_length=150)]
PAGE_SIZE = 50


async def admin_page(page: SignedIn) -> Page:
    await require_admin(page.caller)
    return page


AdminPage = Annotated[Page, Depends(admin_page)]


async def attempt(page: Page, change: Callable[[], Awaitable[T]]) -> T | QuillError:
    """Run a service call in a savepoint: on a refusal the page shows the message and
    answers normally, so the savepoint (not the request's rollback) undoes anything the
    service had begun. The request commits only what succeeded."""
    try:
        async with page.db.begin_nested():
            return await change()
    except QuillError as exc:
        return exc


async def user_named(page: Page, username: str) -> User | None:
    """The account with exactly this username (any case), found through the users service
    as the API's list finds it; forms name people by username, services take ids."""
    text = username.strip()
    if not text:
        return None
    found = await (await page.service(get_user_service)).list_users(
        patient_id=None, permission_level=None, limit=PAGE_SIZE, cursor=None, q=text)
    return next((user for user in found.users if user.username_key == text.lower()), None)


@router.get("/admin")
async def admin_home(page: AdminPage) -> Response:
    return render(page.request, "admin/index.html")
