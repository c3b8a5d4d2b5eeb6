"""Who is calling: token → live session → active user, plus the CSRF check.

Every router except the explicitly public ones depends on ``get_caller``; that is what
makes Quill closed by default.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Annotated

from fastapi import Depends, Request

from quill.access.levels import PermissionLevel, is_admin, is_staff, parse_level
from quill.auth.sessions import csrf_matches, live_session
from quill.auth.tokens import TokenCodec, TokenError, TokenType
from quill.errors import Forbidden, Unauthenticated
from quill.users.models import User
from quill.web.deps import DbSession, RuntimeDep

ACCESS_COOKIE = "access_token"
REFRESH_COOKIE = "refresh_token"
CSRF_COOKIE = "XSRF-TOKEN"
CSRF_HEADER = "X-CSRF-Token"
SAFE_METHODS = frozenset({"GET", "HEAD", "OPTIONS"})


@dataclass(frozen=True)
class Caller:
    user: User
    session_id: str
    via_cookie: bool

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


def _presented_token(request: Request) -> tuple[str | None, bool]:
    header = request.headers.get("authorization", "")
    scheme, _, value = header.partition(" ")
    if scheme.lower() == "bearer" and value.strip():
        return value.strip(), False
    cookie = request.cookies.get(ACCESS_COOKIE)
    return (cookie, True) if cookie else (None, False)


async def get_caller(request: Request, db: DbSession, runtime: RuntimeDep) -> Caller:
    token, via_cookie = _presented_token(request)
    if token is None:
        raise Unauthenticated()
    now = runtime.clock.now()
    try:
        claims = TokenCodec(runtime.secret_key).decode(token, TokenType.ACCESS, now)
    except TokenError as exc:
        raise Unauthenticated("Invalid or expired token") from exc
    session = await live_session(db, claims.session_id, now)
    if session is None or session.user_id != claims.user_id:
        raise Unauthenticated("Session is no longer valid")
    user = await db.get(User, claims.user_id)
    if user is None or not user.is_active:
        raise Unauthenticated("Session is no longer valid")
    if via_cookie and request.method not in SAFE_METHODS:
        presented = request.headers.get(CSRF_HEADER)
        if presented != request.cookies.get(CSRF_COOKIE) or not csrf_matches(
            runtime.secret_key, session.id, presented
        ):
            raise Forbidden("CSRF failed")
    request.state.user_id = user.id
    return Caller(user=user, session_id=session.id, via_cookie=via_cookie)


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
