"""External access: invites for outside clinicians and relatives, their grants, revocation.

Invite tokens are random, stored as SHA-256, single-use, valid for seven days and bound to
the invited email. Revoking a grant also spends that person's pending invites for the
patient, so nothing issued before the revocation can bring the access back.
"""

from __future__ import annotations

import hashlib
import secrets
from dataclasses import dataclass
from datetime import UTC, datetime, timedelta

from sqlalchemy import select, update
from sqlalchemy.ext.asyncio import AsyncSession

from quill.access.models import ExternalGrant
from quill.access.policy import ensure_can_see_patient
from quill.auth.accounts import NewAccount, create_account, find_by_email, find_by_username
from quill.errors import Conflict, Forbidden, Invalid, NotFound, Unauthenticated, Unprocessable
from quill.external_access.models import ExternalInvite
from quill.identity.caller import Caller
from quill.identity.models import User
from quill.runtime import Runtime

INVITE_LIFETIME = timedelta(days=7)
INVALID_INVITE = "Invalid or expired invite"


def token_hash(token: str) -> str:
    return hashlib.sha256(token.encode()).hexdigest()


def _aware(moment: datetime) -> datetime:
    # SQLite hands back naive datetimes; every stored time is UTC.
    return moment if moment.tzinfo else moment.replace(tzinfo=UTC)


async def ensure_patient_or_admin(db: AsyncSession, caller: Caller, patient_id: str) -> None:
    """Admin or the patient themself; others get 404 when they cannot see the patient and
    403 when they can (a clinician may see the record but not hand out access to it)."""
    if caller.is_admin or caller.fhir_patient_id == patient_id:
        return
    await ensure_can_see_patient(db, caller, patient_id)
    raise Forbidden("Only the patient or an admin may manage external access")


@dataclass(frozen=True)
class IssuedInvite:
    token: str
    url: str
    email: str


async def invite(db: AsyncSession, runtime: Runtime, caller: Caller, patient_id: str,
                 email: str, user_type: str) -> IssuedInvite:
    token = secrets.token_urlsafe(32)
    now = runtime.clock.now()
    address = email.strip().lower()
    db.add(ExternalInvite(token_hash=token_hash(token), patient_id=patient_id, email=address,
                          user_type=user_type, invited_by=caller.user_id, created_at=now,
                          expires_at=now + INVITE_LIFETIME, used_at=None, grant_id=None))
    await db.flush()
    url = f"{runtime.settings.public_base_url.rstrip('/')}/accept-invite?token={token}"
    return IssuedInvite(token=token, url=url, email=address)


async def _usable_invite(db: AsyncSession, runtime: Runtime, token: str) -> ExternalInvite:
    found = (await db.execute(select(ExternalInvite).where(
        ExternalInvite.token_hash == token_hash(token)).with_for_update())).scalar_one_or_none()
    if found is None or found.used_at is not None:
        raise Invalid(INVALID_INVITE)
    if _aware(found.expires_at) <= runtime.clock.now():
        raise Invalid(INVALID_INVITE)
    return found


async def _grant(db: AsyncSession, runtime: Runtime, invite_row: ExternalInvite,
                 user: User) -> ExternalGrant:
    active = (await db.execute(select(ExternalGrant).where(
        ExternalGrant.user_id == user.id, ExternalGrant.patient_id == invite_row.patient_id,
        ExternalGrant.revoked_at.is_(None)))).scalars().first()
    grant = active or ExternalGrant(
        user_id=user.id, patient_id=invite_row.patient_id, user_type=invite_row.user_type,
        access_level="read_write", granted_at=runtime.clock.now(),
        granted_by=invite_row.invited_by, revoked_at=None)
    if active is None:
        db.add(grant)
        await db.flush()
    invite_row.used_at, invite_row.grant_id = runtime.clock.now(), grant.id
    await db.flush()
    return grant


@dataclass(frozen=True)
class Acceptance:
    status: str
    user: User
    patient_id: str


async def accept(db: AsyncSession, runtime: Runtime, caller: Caller | None, token: str,
                 username: str | None, password: str | None) -> Acceptance:
    invite_row = await _usable_invite(db, runtime, token)
    existing = await find_by_email(db, invite_row.email)
    if existing is not None:
        if caller is None:
            raise Unauthenticated("An account with this email exists: log in as that "
                                  "account to accept the invite")
        if caller.user_id != existing.id:
            raise Forbidden("This invite was sent to another account")
        await _grant(db, runtime, invite_row, existing)
        return Acceptance("access_granted", existing, invite_row.patient_id)
    if not username or not password:
        raise Unprocessable("username and password are required to create an account")
    if await find_by_username(db, username) is not None:
        raise Conflict("Username already exists")
    user = await create_account(db, runtime.passwords, runtime.clock, NewAccount(
        username=username, email=invite_row.email, password=password,
        level=invite_row.user_type, profession=invite_row.user_type))
    await _grant(db, runtime, invite_row, user)
    return Acceptance("registered", user, invite_row.patient_id)


async def revoke(db: AsyncSession, runtime: Runtime, patient_id: str, user_id: int) -> None:
    grants = (await db.execute(select(ExternalGrant).where(
        ExternalGrant.user_id == user_id, ExternalGrant.patient_id == patient_id,
        ExternalGrant.revoked_at.is_(None)))).scalars().all()
    if not grants:
        raise NotFound("No active external access grant")
    now = runtime.clock.now()
    for grant in grants:
        grant.revoked_at = now
    user = await db.get(User, user_id)
    if user is not None:
        await db.execute(update(ExternalInvite).where(
            ExternalInvite.patient_id == patient_id, ExternalInvite.email == user.email,
            ExternalInvite.used_at.is_(None)).values(used_at=now))
    await db.flush()


async def active_grants(db: AsyncSession, patient_id: str) -> list[tuple[ExternalGrant, User]]:
    rows = await db.execute(
        select(ExternalGrant, User).join(User, User.id == ExternalGrant.user_id)
        .where(ExternalGrant.patient_id == patient_id, ExternalGrant.revoked_at.is_(None))
        .order_by(ExternalGrant.granted_at, ExternalGrant.id))
    return [(grant, user) for grant, user in rows.all()]
