"""Who a page is for, and the CSRF check of every form and htmx request.

Signed-in pages resolve the caller exactly as the API does (same cookies, same session
checks, same cache), with one difference: a browser form cannot send the ``X-CSRF-Token``
header, so the token may also arrive as the ``csrf_token`` form field. It is the same
value the API checks (an HMAC of the session id, also in the ``XSRF-TOKEN`` cookie).

Forms shown before sign-in (sign in, forgot and reset password) have no session to bind a
token to; they use a random cookie of their own and a field holding its HMAC.
"""

from __future__ import annotations

import hashlib
import hmac
import secrets
from collections.abc import Awaitable
from dataclasses import dataclass
from typing import Annotated, Protocol, TypeVar

from fastapi import Depends, Path, Request
from sqlalchemy.ext.asyncio import AsyncSession

from quill.access.policy import ensure_can_see_patient
from quill.audit.service import Auditor
from quill.auth.deps import CSRF_HEADER, SAFE_METHODS, resolve_caller
from quill.auth.sessions import SessionTokens, csrf_token_for
from quill.errors import Forbidden, Unauthenticated
from quill.identity.caller import Caller
from quill.web.deps import DbSession, request_auditor, request_state
from quill.web.wiring import wiring_of

CSRF_FIELD = "csrf_token"
FORM_COOKIE = "quill_form"
CSRF_FAILED = "CSRF failed"
S_co = TypeVar("S_co", covariant=True)


class ServiceFactory(Protocol[S_co]):
    """A router's ``get_service``-style dependency, called as a plain function."""

    def __call__(self, *, request: Request, db: AsyncSession, caller: Caller,
                 auditor: Auditor) -> Awaitable[S_co]: ...


@dataclass(frozen=True)
class Page:
    """A signed-in page request: the caller, the request's transaction and its auditor."""

    request: Request
    caller: Caller
    db: AsyncSession
    auditor: Auditor
    csrf_token: str

    async def service(self, factory: ServiceFactory[S_co]) -> S_co:
        """The service the JSON router would use, built by the router's own dependency
        function, so pages and API share construction, access policy and audit."""
        return await factory(request=self.request, db=self.db, caller=self.caller,
                             auditor=self.auditor)


async def presented_csrf(request: Request) -> str | None:
    """The token an unsafe request carries: the htmx header, else the form field."""
    header = request.headers.get(CSRF_HEADER)
    if header:
        return header
    content_type = request.headers.get("content-type", "")
    if content_type.startswith(("application/x-www-form-urlencoded", "multipart/form-data")):
        value = (await request.form()).get(CSRF_FIELD)
        return value if isinstance(value, str) and value else None
    return None


async def signed_in_page(request: Request, db: DbSession) -> Page:
    """The page's caller; Unauthenticated (→ the sign-in page) or 403 on a bad token."""
    presented = None
    if request.method not in SAFE_METHODS:
        # An empty string, never None, for "no token": None would mean "read the header".
        presented = await presented_csrf(request) or ""
    caller = await resolve_caller(request, db, presented_csrf=presented)
    tokens = wiring_of(request).get(SessionTokens)
    page = Page(request=request, caller=caller, db=db,
                auditor=request_auditor(request, db, caller.user_id),
                csrf_token=csrf_token_for(tokens.secret_key, caller.session_id))
    state = request_state(request)
    state["page"] = page
    state["csrf_field"] = page.csrf_token
    return page


SignedIn = Annotated[Page, Depends(signed_in_page)]


def _form_signature(secret_key: str, cookie: str) -> str:
    return hmac.new(secret_key.encode(), f"form:{cookie}".encode(), hashlib.sha256).hexdigest()


async def anonymous_form(request: Request) -> str:
    """Protect a form shown before sign-in; returns the value of its hidden field.

    A new browser gets the cookie with the page (``render`` sets it). An unsafe request
    must carry the HMAC of the cookie it holds, so another site can neither read nor
    forge it.
    """
    secret_key = wiring_of(request).get(SessionTokens).secret_key
    cookie = request.cookies.get(FORM_COOKIE, "")
    if request.method not in SAFE_METHODS:
        presented = await presented_csrf(request)
        if not cookie or not presented or not hmac.compare_digest(
                _form_signature(secret_key, cookie), presented):
            raise Forbidden(CSRF_FAILED)
    state = request_state(request)
    if not 32 <= len(cookie) <= 64:
        cookie = secrets.token_urlsafe(32)
        state["new_form_cookie"] = cookie
    field = _form_signature(secret_key, cookie)
    state["csrf_field"] = field
    return field


AnonymousForm = Annotated[str, Depends(anonymous_form)]


async def page_or_form(request: Request, db: DbSession) -> Page | None:
    """For a public page that a signed-in person may also use (accepting an invite): the
    signed-in page when the browser holds a live session, checked as ``SignedIn`` is;
    otherwise None, and the form is protected as ``AnonymousForm`` protects it."""
    try:
        return await signed_in_page(request, db)
    except Unauthenticated:
        await anonymous_form(request)
        return None


MaybeSignedIn = Annotated[Page | None, Depends(page_or_form)]
PatientIdPath = Annotated[str, Path(min_length=1, max_length=64)]


async def visible_patient(patient_id: PatientIdPath, page: SignedIn) -> str:
    """For every page under ``/patients/{patient_id}``: the same policy function as the
    API, so a patient the caller may not see is a 404 page, never a 403."""
    await ensure_can_see_patient(page.db, page.caller, patient_id)
    return patient_id


VisiblePatient = Annotated[str, Depends(visible_patient)]
