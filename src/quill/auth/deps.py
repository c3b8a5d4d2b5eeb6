"""Who is calling: token → live session → active user, plus the CSRF check.

Every router except the explicitly public ones depends on ``get_caller``; that is what
makes Quill closed by default.
"""

from __future__ import annotations

from collections.abc import Awaitable, Callable
from datetime import datetime
from typing import Annotated

from fastapi import Depends, Request
from sqlalchemy.ext.asyncio import AsyncSession

from quill.access.cbac import Competency, user_competencies
from quill.access.features import primary_organisation_features
from quill.audit.service import Auditor
from quill.auth.caller_cache import CachedCaller
from quill.auth.callers import CallerSources
from quill.auth.cookies import ACCESS_COOKIE, CSRF_COOKIE
from quill.auth.sessions import live_session
from quill.auth.tokens import TokenError, TokenType
from quill.db.session import read_only
from quill.errors import Forbidden, Unauthenticated
from quill.identity.caller import SESSION_GONE, Caller, UserIdentity
from quill.identity.models import User
from quill.web.deps import DbSession, request_auditor, request_session, request_state
from quill.web.wiring import wiring_of

CSRF_HEADER = "X-CSRF-Token"
SAFE_METHODS = frozenset({"GET", "HEAD", "OPTIONS"})


def _presented_token(request: Request) -> tuple[str | None, bool]:
    header = request.headers.get("authorization", "")
    scheme, _, value = header.partition(" ")
    if scheme.lower() == "bearer" and value.strip():
        return value.strip(), False
    cookie = request.cookies.get(ACCESS_COOKIE)
    return (cookie, True) if cookie else (None, False)


async def _resolve(db: AsyncSession, sources: CallerSources, token: str, now: datetime
                   ) -> CachedCaller:
    generation = sources.callers.mark()
    try:
        claims = sources.tokens.decode(token, TokenType.ACCESS, now)
    except TokenError as exc:
        raise Unauthenticated("Invalid or expired token") from exc
    session = await live_session(db, claims.session_id, now)
    if session is None or session.user_id != claims.user_id:
        raise Unauthenticated(SESSION_GONE)
    user = await db.get(User, claims.user_id)
    if user is None or not user.is_active:
        raise Unauthenticated(SESSION_GONE)
    features = await primary_organisation_features(db, user.id)
    resolved = CachedCaller(
        identity=UserIdentity.of(user), session_id=session.id,
        session_expires_at=session.expires_at, token_expires_at=claims.expires_at,
        features=features or (), generation=generation, stored_at=now,
        in_organisation=features is not None,
    )
    sources.callers.put(token, resolved)
    return resolved


async def get_caller(request: Request) -> Caller:
    """The signed-in caller, from the cache or the database.

    No DbSession parameter: a cache hit needs no database at all. A miss reads through
    the request's session when a dependency has opened it (so SQLite's single connection
    is never wanted twice), otherwise through a short read-only session of its own.
    """
    return await resolve_caller(request, request_session(request))


async def resolve_caller(request: Request, db: AsyncSession | None, *,
                         presented_csrf: str | None = None) -> Caller:
    """The caller, with the CSRF check of a cookie-authenticated unsafe request.

    ``presented_csrf`` is for the web pages, whose forms send the token as a field: when
    given it is checked instead of the ``X-CSRF-Token`` header.
    """
    token, via_cookie = _presented_token(request)
    if token is None:
        raise Unauthenticated()
    # One wiring lookup, then attribute reads: this runs on nearly every request.
    sources = wiring_of(request).get(CallerSources)
    now = sources.clock.now()
    resolved = sources.callers.get(token, now)
    if resolved is None:
        if db is not None:
            resolved = await _resolve(db, sources, token, now)
        else:
            async with read_only(sources.session_factory) as own:
                resolved = await _resolve(own, sources, token, now)
    if via_cookie and request.method not in SAFE_METHODS:
        presented = (request.headers.get(CSRF_HEADER) if presented_csrf is None
                     else presented_csrf)
        if presented != request.cookies.get(CSRF_COOKIE) or not sources.tokens.csrf_matches(
            resolved.session_id, presented
        ):
            raise Forbidden("CSRF failed")
    request_state(request)["user_id"] = resolved.identity.id
    return Caller(user=resolved.identity, session_id=resolved.session_id,
                  via_cookie=via_cookie, primary_features=resolved.features,
                  in_organisation=resolved.in_organisation)


CurrentCaller = Annotated[Caller, Depends(get_caller)]


async def require_staff(caller: CurrentCaller) -> Caller:
    if not caller.is_staff:
        raise Forbidden("Staff access required")
    return caller


async def require_admin(caller: CurrentCaller) -> Caller:
    if not caller.is_admin:
        raise Forbidden("Admin access required")
    return caller


StaffCaller = Annotated[Caller, Depends(require_staff)]
AdminCaller = Annotated[Caller, Depends(require_admin)]


async def get_auditor(request: Request, db: DbSession, caller: CurrentCaller) -> Auditor:
    """Entries name the signed-in caller and this request."""
    return request_auditor(request, db, caller.user_id)


AuditorDep = Annotated[Auditor, Depends(get_auditor)]


def require_competency(competency: Competency) -> Callable[[Caller], Awaitable[Caller]]:
    """``Depends(require_competency(Competency.X))``: 403 ``Missing competency: x``.

    Authentication (and CSRF) come first through ``CurrentCaller``, so an anonymous
    caller still gets 401.
    """

    async def dependency(caller: CurrentCaller) -> Caller:
        if competency.value not in user_competencies(caller.user):
            raise Forbidden(f"Missing competency: {competency.value}")
        return caller

    dependency.__name__ = f"require_{competency.value}"
    return dependency
