"""Who is calling: token → live session → active user, plus the CSRF check.

Every router except the explicitly public ones depends on ``get_caller``; that is what
makes Quill closed by default.
"""

from __future__ import annotations

from dataclasses import dataclass
from datetime import datetime
from typing import Annotated

from fastapi import Depends, Request
from sqlalchemy.ext.asyncio import AsyncSession

from quill.access.levels import PermissionLevel, is_admin, is_staff, parse_level
from quill.auth.caller_cache import CachedCaller
from quill.auth.sessions import csrf_matches, live_session
from quill.auth.tokens import TokenCodec, TokenError, TokenType
from quill.db.session import unit_of_work
from quill.errors import Forbidden, Unauthenticated
from quill.organisations.features import enabled_features_for_user
from quill.runtime import Runtime
from quill.users.identity import UserIdentity
from quill.users.models import User
from quill.web.deps import get_runtime_of, request_session, request_state

ACCESS_COOKIE = "access_token"
REFRESH_COOKIE = "refresh_token"
CSRF_COOKIE = "XSRF-TOKEN"
CSRF_HEADER = "X-CSRF-Token"
SAFE_METHODS = frozenset({"GET", "HEAD", "OPTIONS"})
SESSION_GONE = "Session is no longer valid"


@dataclass(frozen=True)
class Caller:
    user: UserIdentity
    session_id: str
    via_cookie: bool
    # Feature flags of the caller's primary organisation, as /auth/me shows them.
    primary_features: tuple[str, ...] = ()

    @classmethod
    def of(cls, user: User, session_id: str = "", *, via_cookie: bool = False) -> Caller:
        return cls(UserIdentity.of(user), session_id, via_cookie)

    @property
    def user_id(self) -> int:
        return self.user.id

    @property
    def username(self) -> str:
        return self.user.username

    @property
    def level(self) -> PermissionLevel:
        return parse_level(self.user.system_permissions) or PermissionLevel.PATIENT

    @property
    def fhir_patient_id(self) -> str | None:
        return self.user.fhir_patient_id

    @property
    def is_admin(self) -> bool:
        return is_admin(self.level)

    @property
    def is_staff(self) -> bool:
        return is_staff(self.level)

    async def account(self, db: AsyncSession) -> User:
        """The caller's row in this request's transaction, for code that changes it."""
        user = await db.get(User, self.user_id)
        if user is None or not user.is_active:
            raise Unauthenticated(SESSION_GONE)
        return user


def _presented_token(request: Request) -> tuple[str | None, bool]:
    header = request.headers.get("authorization", "")
    scheme, _, value = header.partition(" ")
    if scheme.lower() == "bearer" and value.strip():
        return value.strip(), False
    cookie = request.cookies.get(ACCESS_COOKIE)
    return (cookie, True) if cookie else (None, False)


async def _resolve(db: AsyncSession, runtime: Runtime, token: str, now: datetime
                   ) -> CachedCaller:
    generation = runtime.callers.mark()
    try:
        claims = TokenCodec(runtime.secret_key).decode(token, TokenType.ACCESS, now)
    except TokenError as exc:
        raise Unauthenticated("Invalid or expired token") from exc
    session = await live_session(db, claims.session_id, now)
    if session is None or session.user_id != claims.user_id:
        raise Unauthenticated(SESSION_GONE)
    user = await db.get(User, claims.user_id)
    if user is None or not user.is_active:
        raise Unauthenticated(SESSION_GONE)
    resolved = CachedCaller(
        identity=UserIdentity.of(user), session_id=session.id,
        session_expires_at=session.expires_at, token_expires_at=claims.expires_at,
        features=tuple(await enabled_features_for_user(db, user.id)), generation=generation,
        stored_at=now,
    )
    runtime.callers.put(token, resolved)
    return resolved


async def get_caller(request: Request) -> Caller:
    """The signed-in caller, from the cache or the database.

    No DbSession parameter: a cache hit needs no database at all. A miss reads through
    the request's session when a dependency has opened it (so SQLite's single connection
    is never wanted twice), otherwise through a short read-only session of its own.
    """
    return await resolve_caller(request, request_session(request))


async def resolve_caller(request: Request, db: AsyncSession | None) -> Caller:
    token, via_cookie = _presented_token(request)
    if token is None:
        raise Unauthenticated()
    runtime = get_runtime_of(request)
    now = runtime.clock.now()
    resolved = runtime.callers.get(token, now)
    if resolved is None:
        if db is not None:
            resolved = await _resolve(db, runtime, token, now)
        else:
            async with unit_of_work(runtime.session_factory) as own:
                resolved = await _resolve(own, runtime, token, now)
    if via_cookie and request.method not in SAFE_METHODS:
        presented = request.headers.get(CSRF_HEADER)
        if presented != request.cookies.get(CSRF_COOKIE) or not csrf_matches(
            runtime.secret_key, resolved.session_id, presented
        ):
            raise Forbidden("CSRF failed")
    request_state(request)["user_id"] = resolved.identity.id
    return Caller(user=resolved.identity, session_id=resolved.session_id,
                  via_cookie=via_cookie, primary_features=resolved.features)


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
