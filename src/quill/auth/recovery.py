"""Forgotten, reset and changed passwords.

``RecoveryService`` answers the public routes (forgot, reset); ``PasswordService`` changes
the signed-in caller's password.
"""

from __future__ import annotations

import hashlib
import secrets
from dataclasses import dataclass
from datetime import datetime, timedelta
from urllib.parse import urlencode

from sqlalchemy import select, update
from sqlalchemy.engine import CursorResult
from sqlalchemy.ext.asyncio import AsyncSession

from quill.audit.service import Auditor
from quill.auth.accounts import find_by_email
from quill.auth.models import PasswordResetToken
from quill.auth.password_policy import check_new_password
from quill.auth.passwords import PasswordHasher
from quill.auth.sessions import revoke_user_sessions
from quill.clock import Clock
from quill.email.port import Mailer
from quill.errors import Invalid
from quill.identity.caller import Caller
from quill.identity.models import User

RESET_TOKEN_MINUTES = 30
INVALID_RESET_LINK = "Invalid or expired reset link"
WRONG_PASSWORD = "Current password is incorrect"  # noqa: S105 - a message


def _digest(token: str) -> str:
    return hashlib.sha256(token.encode("utf-8", "surrogatepass")).hexdigest()


@dataclass(frozen=True)
class ResetMail:
    to: str
    subject: str
    body: str


def _reset_mail(user: User, link: str) -> ResetMail:
    body = (
        f"Hello {user.full_name or user.username},\n\n"
        "Someone asked to reset the password of your Quill account. If that was you, open\n"
        f"this link within {RESET_TOKEN_MINUTES} minutes to choose a new password:\n\n"
        f"{link}\n\n"
        "If it was not you, ignore this message; your password stays as it is.\n"
    )
    return ResetMail(user.email, "Reset your Quill password", body)


@dataclass
class RecoveryService:
    db: AsyncSession
    auditor: Auditor
    clock: Clock
    passwords: PasswordHasher
    # Sends the reset mail, after the response (the router schedules it: see request_reset).
    mailer: Mailer
    public_base_url: str

    async def request_reset(self, email: str) -> ResetMail | None:
        """Store a hashed single-use token and describe the mail to send, if the user
        exists.

        The mail goes out through ``mailer`` only once the transaction has committed; the
        route answers the same whether or not a mail results.
        """
        user = await find_by_email(self.db, email)
        if user is None or not user.is_active:
            return None
        token = secrets.token_urlsafe(32)
        now = self.clock.now()
        self.db.add(PasswordResetToken(token_hash=_digest(token), user_id=user.id,
                                       created_at=now,
                                       expires_at=now + timedelta(minutes=RESET_TOKEN_MINUTES),
                                       used_at=None))
        await self.db.flush()
        base = self.public_base_url.rstrip("/")
        return _reset_mail(user, f"{base}/reset-password?{urlencode({'token': token})}")

    async def reset_password(self, token: str, new_password: str) -> None:
        check_new_password(new_password)
        # Hashed before any query so the transaction (SQLite's write lock) stays short.
        new_hash = await self.passwords.hash(new_password)
        now = self.clock.now()
        row = (await self.db.execute(
            select(PasswordResetToken).where(PasswordResetToken.token_hash == _digest(token))
        )).scalar_one_or_none()
        if row is None or row.used_at is not None or row.expires_at <= now:
            raise Invalid(INVALID_RESET_LINK)
        user = await self.db.get(User, row.user_id)
        if user is None or not user.is_active:
            raise Invalid(INVALID_RESET_LINK)
        await self._spend(row.id, user.id, now)
        user.password_hash = new_hash
        user.updated_at = now
        await revoke_user_sessions(self.db, user.id, now)
        await self.auditor.record("auth.password_reset", "User", str(user.id),
                                  actor_id=user.id)

    async def _spend(self, token_id: int, user_id: int, now: datetime) -> None:
        # Spent in the database so two concurrent uses cannot both succeed.
        spent = await self.db.execute(
            update(PasswordResetToken)
            .where(PasswordResetToken.id == token_id, PasswordResetToken.used_at.is_(None))
            .values(used_at=now).execution_options(synchronize_session=False)
        )
        if not isinstance(spent, CursorResult) or spent.rowcount != 1:
            raise Invalid(INVALID_RESET_LINK)
        # Any other outstanding links for this user die with this one.
        await self.db.execute(
            update(PasswordResetToken)
            .where(PasswordResetToken.user_id == user_id, PasswordResetToken.used_at.is_(None))
            .values(used_at=now).execution_options(synchronize_session=False)
        )


@dataclass
class PasswordService:
    db: AsyncSession
    caller: Caller
    auditor: Auditor
    clock: Clock
    passwords: PasswordHasher

    async def change_password(self, current_password: str, new_password: str) -> None:
        user = await self.caller.account(self.db)
        if not await self.passwords.verify(user.password_hash, current_password):
            raise Invalid(WRONG_PASSWORD)
        check_new_password(new_password)
        now = self.clock.now()
        user.password_hash = await self.passwords.hash(new_password)
        user.updated_at = now
        await revoke_user_sessions(self.db, user.id, now, keep=self.caller.session_id)
        await self.auditor.record("auth.password_changed", "User", str(user.id))
