"""Opening and checking server-side sessions, and the CSRF value bound to each."""

from __future__ import annotations

import hashlib
import hmac
import secrets
from dataclasses import dataclass
from datetime import datetime, timedelta

from sqlalchemy import select
from sqlalchemy.ext.asyncio import AsyncSession

from quill.auth.models import AuthSession
from quill.auth.tokens import TokenClaims, TokenCodec, TokenType
from quill.clock import Clock, IdSource
from quill.identity.models import User
from quill.settings import Settings


def csrf_token_for(secret_key: str, session_id: str) -> str:
    """The CSRF value is an HMAC of the session id, so it cannot be forged or moved."""
    return hmac.new(secret_key.encode(), f"csrf:{session_id}".encode(), hashlib.sha256).hexdigest()


def csrf_matches(secret_key: str, session_id: str, presented: str | None) -> bool:
    if not presented:
        return False
    return hmac.compare_digest(csrf_token_for(secret_key, session_id), presented)


@dataclass(frozen=True)
class IssuedTokens:
    session_id: str
    access_token: str
    refresh_token: str
    csrf_token: str
    access_expires_at: datetime
    refresh_expires_at: datetime


class SessionTokens:
    """Signs and checks the tokens and CSRF values of server-side sessions.

    Built once by the composition root from the secret key and the configured lifetimes;
    the login service issues with it and resolving a caller checks with it.
    """

    __slots__ = ("_codec", "access_minutes", "refresh_days", "secret_key")

    def __init__(self, secret_key: str, *, access_minutes: int, refresh_days: int) -> None:
        self.secret_key = secret_key
        self.access_minutes = access_minutes
        self.refresh_days = refresh_days
        self._codec = TokenCodec(secret_key)

    @classmethod
    def from_settings(cls, settings: Settings, secret_key: str) -> SessionTokens:
        return cls(secret_key, access_minutes=settings.access_token_minutes,
                   refresh_days=settings.refresh_token_days)

    def decode(self, token: str, expected: TokenType, now: datetime) -> TokenClaims:
        return self._codec.decode(token, expected, now)

    def csrf_matches(self, session_id: str, presented: str | None) -> bool:
        return csrf_matches(self.secret_key, session_id, presented)

    def issue(self, session: AuthSession, now: datetime) -> IssuedTokens:
        """Mint an access/refresh pair for a session and remember which refresh token is
        live."""
        access_exp = now + timedelta(minutes=self.access_minutes)
        refresh_exp = min(session.expires_at, now + timedelta(days=self.refresh_days))
        refresh_jti = secrets.token_hex(16)
        session.refresh_jti = refresh_jti
        access = self._codec.encode(
            TokenClaims(TokenType.ACCESS, session.user_id, session.id, secrets.token_hex(16),
                        access_exp), now)
        refresh = self._codec.encode(
            TokenClaims(TokenType.REFRESH, session.user_id, session.id, refresh_jti,
                        refresh_exp), now)
        return IssuedTokens(session.id, access, refresh,
                            csrf_token_for(self.secret_key, session.id), access_exp, refresh_exp)


async def open_session(
    db: AsyncSession, tokens: SessionTokens, clock: Clock, ids: IdSource, user: User, *,
    user_agent: str = "", ip: str = "",
) -> IssuedTokens:
    now = clock.now()
    session = AuthSession(
        id=ids.new_id(), user_id=user.id, user_agent=user_agent[:300], ip=ip[:64],
        created_at=now, last_used_at=now,
        expires_at=now + timedelta(days=tokens.refresh_days),
        revoked_at=None,
    )
    db.add(session)
    issued = tokens.issue(session, now)
    await db.flush()
    return issued


async def live_session(db: AsyncSession, session_id: str, now: datetime) -> AuthSession | None:
    session = await db.get(AuthSession, session_id)
    if session is None or session.revoked_at is not None or session.expires_at <= now:
        return None
    return session


async def revoke_user_sessions(
    db: AsyncSession, user_id: int, now: datetime, *, keep: str | None = None
) -> list[str]:
    rows = (
        await db.execute(
            select(AuthSession).where(AuthSession.user_id == user_id,
                                      AuthSession.revoked_at.is_(None))
        )
    ).scalars().all()
    revoked: list[str] = []
    for row in rows:
        if row.id != keep:
            row.revoked_at = now
            revoked.append(row.id)
    await db.flush()
    return revoked
