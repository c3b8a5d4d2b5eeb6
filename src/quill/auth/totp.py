"""Time-based one-time codes (RFC 6238) where each time step works once per user."""

from __future__ import annotations

import hmac
from datetime import datetime

import pyotp
from sqlalchemy import or_, update
from sqlalchemy.engine import CursorResult
from sqlalchemy.ext.asyncio import AsyncSession

from quill.identity.models import User

ISSUER = "Quill Medical"
STEP_SECONDS = 30
# One step either side allows for clock drift between phone and server.
DRIFT_STEPS = 1


def new_secret() -> str:
    return pyotp.random_base32()


def provisioning_uri(secret: str, account: str) -> str:
    return pyotp.TOTP(secret).provisioning_uri(name=account, issuer_name=ISSUER)


def matching_step(secret: str, code: str, now: datetime) -> int | None:
    """The time step whose code equals ``code``, within the drift window."""
    code = code.strip()
    if not code.isdigit() or len(code) != 6:
        return None
    totp = pyotp.TOTP(secret)
    current = int(now.timestamp()) // STEP_SECONDS
    for step in range(current - DRIFT_STEPS, current + DRIFT_STEPS + 1):
        if hmac.compare_digest(totp.at(step * STEP_SECONDS), code):
            return step
    return None


async def consume_code(db: AsyncSession, user: User, secret: str, code: str,
                       now: datetime) -> bool:
    """Accept a code once: the step must be newer than the last one this user spent.

    The conditional UPDATE makes two concurrent requests with the same code race in the
    database, where only one can win.
    """
    step = matching_step(secret, code, now)
    if step is None:
        return False
    result = await db.execute(
        update(User)
        .where(User.id == user.id,
               or_(User.totp_last_step.is_(None), User.totp_last_step < step))
        .values(totp_last_step=step)
        .execution_options(synchronize_session=False)
    )
    if not isinstance(result, CursorResult) or result.rowcount != 1:
        return False
    await db.refresh(user, attribute_names=["totp_last_step"])
    return True
