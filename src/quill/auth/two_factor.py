"""Turning two-factor authentication on and off for the signed-in user."""

from __future__ import annotations

from sqlalchemy.ext.asyncio import AsyncSession

from quill.audit.service import Auditor
from quill.auth.totp import consume_code, new_secret, provisioning_uri
from quill.errors import Invalid
from quill.identity.caller import Caller
from quill.runtime import Runtime

NO_TOTP_SECRET = {"message": "Two-factor setup has not been started",
                  "error_code": "no_totp_secret"}
INVALID_TOTP = {"message": "Invalid two-factor code", "error_code": "invalid_totp"}
ALREADY_ENABLED = {"message": "Two-factor authentication is already enabled",
                   "error_code": "totp_already_enabled"}


async def setup(db: AsyncSession, runtime: Runtime, auditor: Auditor, caller: Caller) -> str:
    """Create (or reuse, while not yet enabled) a secret and return its otpauth URI.

    Once two-factor is enabled the secret is never shown again: a stolen session must
    not be able to copy the second factor.
    """
    user = await caller.account(db)
    if user.totp_enabled:
        raise Invalid(ALREADY_ENABLED)
    if not user.totp_secret:
        user.totp_secret = new_secret()
        user.totp_last_step = None
        user.updated_at = runtime.clock.now()
        await auditor.record("auth.totp_setup", "User", str(user.id))
    return provisioning_uri(user.totp_secret, user.email or user.username)


async def verify(
    db: AsyncSession, runtime: Runtime, auditor: Auditor, caller: Caller, code: str
) -> None:
    user = await caller.account(db)
    if not user.totp_secret:
        raise Invalid(NO_TOTP_SECRET)
    if not await consume_code(db, user, user.totp_secret, code, runtime.clock.now()):
        raise Invalid(INVALID_TOTP)
    if not user.totp_enabled:
        user.totp_enabled = True
        user.updated_at = runtime.clock.now()
        await auditor.record("auth.totp_enabled", "User", str(user.id))


async def disable(db: AsyncSession, runtime: Runtime, auditor: Auditor, caller: Caller,
                  password: str) -> None:
    user = await caller.account(db)
    if not await runtime.passwords.verify(user.password_hash, password):
        raise Invalid("Current password is incorrect")
    user.totp_enabled = False
    user.totp_secret = None
    user.totp_last_step = None
    user.updated_at = runtime.clock.now()
    await auditor.record("auth.totp_disabled", "User", str(user.id))
