"""Turning two-factor authentication on and off for the signed-in user."""

from __future__ import annotations

from dataclasses import dataclass

from sqlalchemy.ext.asyncio import AsyncSession

from quill.audit.service import Auditor
from quill.auth.passwords import PasswordHasher
from quill.auth.recovery import WRONG_PASSWORD
from quill.auth.totp import consume_code, new_secret, provisioning_uri
from quill.clock import Clock
from quill.errors import Invalid
from quill.identity.caller import Caller

NO_TOTP_SECRET = {"message": "Two-factor setup has not been started",
                  "error_code": "no_totp_secret"}
INVALID_TOTP = {"message": "Invalid two-factor code", "error_code": "invalid_totp"}
ALREADY_ENABLED = {"message": "Two-factor authentication is already enabled",
                   "error_code": "totp_already_enabled"}


@dataclass
class TwoFactorService:
    db: AsyncSession
    caller: Caller
    auditor: Auditor
    clock: Clock
    passwords: PasswordHasher

    async def setup(self) -> str:
        """Create (or reuse, while not yet enabled) a secret and return its otpauth URI.

        Once two-factor is enabled the secret is never shown again: a stolen session must
        not be able to copy the second factor.
        """
        user = await self.caller.account(self.db)
        if user.totp_enabled:
            raise Invalid(ALREADY_ENABLED)
        if not user.totp_secret:
            user.totp_secret = new_secret()
            user.totp_last_step = None
            user.updated_at = self.clock.now()
            await self.auditor.record("auth.totp_setup", "User", str(user.id))
        return provisioning_uri(user.totp_secret, user.email or user.username)

    async def verify(self, code: str) -> None:
        user = await self.caller.account(self.db)
        if not user.totp_secret:
            raise Invalid(NO_TOTP_SECRET)
        if not await consume_code(self.db, user, user.totp_secret, code, self.clock.now()):
            raise Invalid(INVALID_TOTP)
        if not user.totp_enabled:
            user.totp_enabled = True
            user.updated_at = self.clock.now()
            await self.auditor.record("auth.totp_enabled", "User", str(user.id))

    async def disable(self, password: str) -> None:
        user = await self.caller.account(self.db)
        if not await self.passwords.verify(user.password_hash, password):
            raise Invalid(WRONG_PASSWORD)
        user.totp_enabled = False
        user.totp_secret = None
        user.totp_last_step = None
        user.updated_at = self.clock.now()
        await self.auditor.record("auth.totp_disabled", "User", str(user.id))
