"""Signing in and out, refresh-token rotation, and the user's list of sessions.

``LoginService`` answers the public routes (login, refresh); ``SessionService`` acts for
the signed-in caller.

Failures that must leave a trace (a failed login, a replayed refresh token) are returned
as values rather than raised: raising would roll back the request's transaction and
with it the audit row or the revocation.
"""

from __future__ import annotations

from dataclasses import dataclass
from datetime import datetime
from functools import lru_cache

from sqlalchemy import select, update
from sqlalchemy.engine import CursorResult
from sqlalchemy.ext.asyncio import AsyncSession, async_sessionmaker

from quill.access.cbac import final_competencies, roles_for
from quill.audit.service import Auditor
from quill.auth.accounts import find_by_username
from quill.auth.models import AuthSession
from quill.auth.passwords import PasswordHasher
from quill.auth.sessions import IssuedTokens, SessionTokens, live_session, open_session
from quill.auth.tokens import TokenError, TokenType
from quill.auth.totp import consume_code
from quill.clock import Clock, IdSource
from quill.errors import Invalid, NotFound, QuillError, Unauthenticated
from quill.identity.caller import Caller, UserIdentity
from quill.identity.models import User

INVALID_CREDENTIALS = "Invalid credentials"
TWO_FACTOR_REQUIRED = {"message": "Two-factor required", "error_code": "two_factor_required"}
INVALID_TOTP = {"message": "Invalid two-factor code", "error_code": "invalid_totp"}


def user_roles(user: User | UserIdentity) -> list[str]:
    return list(_roles(user.system_permissions, user.base_profession,
                       tuple(user.additional_competencies or ()),
                       tuple(user.removed_competencies or ())))


# Roles follow from these four values and the catalogue, which is fixed for the life of
# the process; the few combinations in use are worked out once each instead of on every
# /auth/me.
@lru_cache(maxsize=1024)
def _roles(level: str, base_profession: str, additional: tuple[str, ...],
           removed: tuple[str, ...]) -> tuple[str, ...]:
    return tuple(roles_for(level, final_competencies(base_profession, additional, removed)))


@dataclass(frozen=True)
class LoginAttempt:
    username: str
    password: str
    totp_code: str | None
    user_agent: str
    ip: str


@dataclass(frozen=True)
class SignedIn:
    user: User
    tokens: IssuedTokens


@dataclass(frozen=True)
class _Credentials:
    user_id: int
    password_hash: str
    is_active: bool


@dataclass
class LoginService:
    db: AsyncSession
    auditor: Auditor
    clock: Clock
    ids: IdSource
    passwords: PasswordHasher
    tokens: SessionTokens
    # The password hash is read in a short transaction of its own: see _stored_credentials.
    session_factory: async_sessionmaker[AsyncSession]

    async def login(self, attempt: LoginAttempt) -> SignedIn | QuillError:
        user, known_id = await self._check_password(attempt)
        if user is None:
            await self.auditor.record("auth.login_failed", "User",
                                      str(known_id) if known_id is not None else None,
                                      actor_id=known_id)
            return Invalid(INVALID_CREDENTIALS)
        if user.totp_enabled:
            if not attempt.totp_code:
                return Invalid(TWO_FACTOR_REQUIRED)
            # Enabled without a secret can only be a damaged row: fail closed.
            if not user.totp_secret or not await consume_code(
                    self.db, user, user.totp_secret, attempt.totp_code, self.clock.now()):
                await self.auditor.record("auth.login_failed", "User", str(user.id),
                                          actor_id=user.id)
                return Invalid(INVALID_TOTP)
        tokens = await open_session(self.db, self.tokens, self.clock, self.ids, user,
                                    user_agent=attempt.user_agent, ip=attempt.ip)
        await self.auditor.record("auth.login", "AuthSession", tokens.session_id,
                                  actor_id=user.id)
        return SignedIn(user, tokens)

    async def _stored_credentials(self, username: str) -> _Credentials | None:
        """Read the hash in a short transaction of its own.

        The slow part of a login is the hash; holding the request's transaction open
        across it would keep SQLite's write lock (and a PostgreSQL connection) busy for
        that long.
        """
        async with self.session_factory() as reader:
            user = await find_by_username(reader, username)
            if user is None:
                return None
            return _Credentials(user.id, user.password_hash, user.is_active)

    async def _check_password(self, attempt: LoginAttempt) -> tuple[User | None, int | None]:
        """The signed-in user (or None), and the id of the named account if there is one."""
        stored = await self._stored_credentials(attempt.username)
        # Unknown users are verified against a dummy hash, so both paths cost one Argon2 run.
        ok = await self.passwords.verify(stored.password_hash if stored else None,
                                         attempt.password)
        if stored is None:
            return None, None
        if not ok or not stored.is_active:
            return None, stored.user_id
        user = await self.db.get(User, stored.user_id)
        if user is None or not user.is_active:
            return None, stored.user_id
        if self.passwords.needs_rehash(user.password_hash):
            user.password_hash = await self.passwords.hash(attempt.password)
        return user, user.id

    async def refresh(self, refresh_token: str | None) -> IssuedTokens | QuillError:
        """Exchange a refresh token once; a second use revokes the whole session."""
        if not refresh_token:
            return Unauthenticated()
        now = self.clock.now()
        try:
            claims = self.tokens.decode(refresh_token, TokenType.REFRESH, now)
        except TokenError:
            return Unauthenticated("Invalid or expired token")
        session = await live_session(self.db, claims.session_id, now)
        user = await self.db.get(User, claims.user_id)
        if (session is None or session.user_id != claims.user_id or user is None
                or not user.is_active):
            return Unauthenticated("Session is no longer valid")
        if not await self._claim(session.id, claims.jti, now):
            await self.db.execute(
                update(AuthSession).where(AuthSession.id == session.id)
                .values(revoked_at=now).execution_options(synchronize_session=False)
            )
            await self.auditor.record("auth.refresh_reuse", "AuthSession", session.id,
                                      actor_id=user.id)
            return Unauthenticated("Refresh token already used; session revoked")
        await self.db.refresh(session)
        return self.tokens.issue(session, now)

    async def _claim(self, session_id: str, jti: str, now: datetime) -> bool:
        """Claim the token in the database: of two requests racing with it, only one
        matches."""
        claimed = await self.db.execute(
            update(AuthSession)
            .where(AuthSession.id == session_id, AuthSession.refresh_jti == jti,
                   AuthSession.revoked_at.is_(None))
            .values(refresh_jti=None, last_used_at=now)
            .execution_options(synchronize_session=False)
        )
        return isinstance(claimed, CursorResult) and claimed.rowcount == 1


@dataclass
class SessionService:
    db: AsyncSession
    caller: Caller
    auditor: Auditor
    clock: Clock

    async def logout(self) -> None:
        session = await self.db.get(AuthSession, self.caller.session_id)
        if session is not None and session.revoked_at is None:
            session.revoked_at = self.clock.now()
        await self.auditor.record("auth.logout", "AuthSession", self.caller.session_id)

    async def list_sessions(self) -> list[AuthSession]:
        now = self.clock.now()
        rows = await self.db.execute(
            select(AuthSession)
            .where(AuthSession.user_id == self.caller.user_id,
                   AuthSession.revoked_at.is_(None), AuthSession.expires_at > now)
            .order_by(AuthSession.created_at.desc(), AuthSession.id)
        )
        return list(rows.scalars().all())

    async def revoke_session(self, session_id: str) -> None:
        """Revoke one of the caller's own sessions; anyone else's looks like it does not
        exist."""
        session = None
        if len(session_id) <= 36 and "\x00" not in session_id:
            session = await self.db.get(AuthSession, session_id)
        if (session is None or session.user_id != self.caller.user_id
                or session.revoked_at is not None):
            raise NotFound("Session not found")
        session.revoked_at = self.clock.now()
        await self.auditor.record("auth.session_revoked", "AuthSession", session_id)
