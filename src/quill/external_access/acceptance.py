"""Accepting an external-access invite: public, with or without a signed-in caller.

The invite names an email. When an account with that email exists, only that account,
signed in, may accept it; otherwise accepting creates the account (username and password
given) at the level the invite was for.
"""

from __future__ import annotations

from dataclasses import dataclass
from datetime import UTC, datetime

from sqlalchemy import select
from sqlalchemy.ext.asyncio import AsyncSession

from quill.access.models import ExternalGrant
from quill.audit.service import Auditor
from quill.auth.accounts import NewAccount, create_account, find_by_email, find_by_username
from quill.auth.passwords import PasswordHasher
from quill.clock import Clock
from quill.errors import Conflict, Forbidden, Invalid, Unauthenticated, Unprocessable
from quill.external_access.models import ExternalInvite
from quill.external_access.service import token_hash
from quill.identity.caller import Caller
from quill.identity.models import User

INVALID_INVITE = "Invalid or expired invite"


def _aware(moment: datetime) -> datetime:
    # SQLite hands back naive datetimes; every stored time is UTC.
    return moment if moment.tzinfo else moment.replace(tzinfo=UTC)


@dataclass(frozen=True)
class Acceptance:
    status: str
    user: User
    patient_id: str


@dataclass(frozen=True)
class PendingInvite:
    """What the page accepting an invite needs to ask for: the invited address, and
    whether an account already uses it (then that account signs in; else one is made)."""

    email: str
    user_type: str
    has_account: bool


@dataclass(frozen=True)
class InviteAcceptanceService:
    """No ``caller`` field: the one who accepts may or may not be signed in, so each
    ``accept`` is told who (if anyone) is."""

    db: AsyncSession
    auditor: Auditor
    clock: Clock
    passwords: PasswordHasher

    async def accept(self, caller: Caller | None, token: str, username: str | None,
                     password: str | None) -> Acceptance:
        invite = await self._usable_invite(token)
        existing = await find_by_email(self.db, invite.email)
        if existing is not None:
            if caller is None:
                raise Unauthenticated("An account with this email exists: log in as that "
                                      "account to accept the invite")
            if caller.user_id != existing.id:
                raise Forbidden("This invite was sent to another account")
            return await self._granted("access_granted", invite, existing)
        if not username or not password:
            raise Unprocessable("username and password are required to create an account")
        if await find_by_username(self.db, username) is not None:
            raise Conflict("Username already exists")
        user = await create_account(self.db, self.passwords, self.clock, NewAccount(
            username=username, email=invite.email, password=password,
            level=invite.user_type, profession=invite.user_type))
        return await self._granted("registered", invite, user)

    async def pending(self, token: str) -> PendingInvite:
        """The invite behind a token, before it is accepted; Invalid exactly as ``accept``
        would be for an expired, used or revoked one. Spends and records nothing: it
        names no patient, only what the email's recipient already knows."""
        invite = await self._usable_invite(token, lock=False)
        existing = await find_by_email(self.db, invite.email)
        return PendingInvite(invite.email, invite.user_type, existing is not None)

    async def _usable_invite(self, token: str, *, lock: bool = True) -> ExternalInvite:
        query = select(ExternalInvite).where(ExternalInvite.token_hash == token_hash(token))
        if lock:
            query = query.with_for_update()
        found = (await self.db.execute(query)).scalar_one_or_none()
        if found is None or found.used_at is not None:
            raise Invalid(INVALID_INVITE)
        if _aware(found.expires_at) <= self.clock.now():
            raise Invalid(INVALID_INVITE)
        return found

    async def _granted(self, status: str, invite: ExternalInvite, user: User) -> Acceptance:
        """Spend the invite on a grant (the user's active one, if any), and audit it."""
        active = (await self.db.execute(select(ExternalGrant).where(
            ExternalGrant.user_id == user.id, ExternalGrant.patient_id == invite.patient_id,
            ExternalGrant.revoked_at.is_(None)))).scalars().first()
        grant = active or ExternalGrant(
            user_id=user.id, patient_id=invite.patient_id, user_type=invite.user_type,
            access_level="read_write", granted_at=self.clock.now(),
            granted_by=invite.invited_by, revoked_at=None)
        if active is None:
            self.db.add(grant)
            await self.db.flush()
        invite.used_at, invite.grant_id = self.clock.now(), grant.id
        await self.db.flush()
        await self.auditor.record("external_access.accept", "ExternalGrant", str(user.id),
                                  patient_id=invite.patient_id, actor_id=user.id)
        return Acceptance(status, user, invite.patient_id)
