"""External access: invites for outside clinicians and relatives, their grants, revocation.

Invite tokens are random, stored as SHA-256, single-use, valid for seven days and bound to
the invited email. Revoking a grant also spends that person's pending invites for the
patient, so nothing issued before the revocation can bring the access back. Accepting an
invite is InviteAcceptanceService's (quill.external_access.acceptance).
"""

from __future__ import annotations

import hashlib
import secrets
from dataclasses import dataclass, field
from datetime import timedelta

from sqlalchemy import select, update
from sqlalchemy.ext.asyncio import AsyncSession

from quill.access.models import ExternalGrant
from quill.access.policy import ensure_can_see_patient
from quill.audit.service import Auditor
from quill.clock import Clock
from quill.email.port import Mailer
from quill.errors import Forbidden, NotFound
from quill.external_access.models import ExternalInvite
from quill.fhir.port import FhirStore, existing_patient
from quill.identity.caller import Caller
from quill.identity.models import User

INVITE_LIFETIME = timedelta(days=7)
INVITE_SUBJECT = "You have been invited to Quill"


def token_hash(token: str) -> str:
    return hashlib.sha256(token.encode()).hexdigest()


def _invite_body(url: str) -> str:
    # No patient details in mail: the link is enough, and the record stays behind login.
    return ("You have been invited to access a patient's record on Quill.\n\n"
            f"Accept the invitation (valid for 7 days, single use):\n{url}\n\n"
            "If you were not expecting this, ignore this email.\n")


@dataclass(frozen=True)
class IssuedInvite:
    token: str
    url: str
    email: str


@dataclass(frozen=True)
class OutgoingMail:
    to: str
    subject: str
    body: str


@dataclass
class ExternalAccessService:
    """``mails`` collects what to send once the request has committed; the router sends
    them with ``mailer`` after the response."""

    db: AsyncSession
    caller: Caller
    auditor: Auditor
    clock: Clock
    fhir: FhirStore
    mailer: Mailer
    public_base_url: str
    mails: list[OutgoingMail] = field(default_factory=list)

    async def _ensure_patient_or_admin(self, patient_id: str) -> None:
        """Admin or the patient themself; others get 404 when they cannot see the patient
        and 403 when they can (a clinician may see the record but not hand out access)."""
        if self.caller.is_admin or self.caller.fhir_patient_id == patient_id:
            return
        await ensure_can_see_patient(self.db, self.caller, patient_id)
        raise Forbidden("Only the patient or an admin may manage external access")

    async def invite(self, patient_id: str, email: str, user_type: str) -> IssuedInvite:
        await self._ensure_patient_or_admin(patient_id)
        await existing_patient(self.fhir, patient_id)
        token = secrets.token_urlsafe(32)
        now = self.clock.now()
        address = email.strip().lower()
        self.db.add(ExternalInvite(
            token_hash=token_hash(token), patient_id=patient_id, email=address,
            user_type=user_type, invited_by=self.caller.user_id, created_at=now,
            expires_at=now + INVITE_LIFETIME, used_at=None, grant_id=None))
        await self.db.flush()
        url = f"{self.public_base_url.rstrip('/')}/accept-invite?token={token}"
        await self.auditor.record("external_access.invite", "ExternalInvite", None,
                                  patient_id=patient_id)
        self.mails.append(OutgoingMail(address, INVITE_SUBJECT, _invite_body(url)))
        return IssuedInvite(token=token, url=url, email=address)

    async def revoke(self, patient_id: str, user_id: int) -> None:
        await self._ensure_patient_or_admin(patient_id)
        grants = (await self.db.execute(select(ExternalGrant).where(
            ExternalGrant.user_id == user_id, ExternalGrant.patient_id == patient_id,
            ExternalGrant.revoked_at.is_(None)))).scalars().all()
        if not grants:
            raise NotFound("No active external access grant")
        now = self.clock.now()
        for grant in grants:
            grant.revoked_at = now
        user = await self.db.get(User, user_id)
        if user is not None:
            await self.db.execute(update(ExternalInvite).where(
                ExternalInvite.patient_id == patient_id, ExternalInvite.email == user.email,
                ExternalInvite.used_at.is_(None)).values(used_at=now))
        await self.db.flush()
        await self.auditor.record("external_access.revoke", "User", str(user_id),
                                  patient_id=patient_id)

    async def active_grants(self, patient_id: str) -> list[tuple[ExternalGrant, User]]:
        await self._ensure_patient_or_admin(patient_id)
        await existing_patient(self.fhir, patient_id)
        rows = await self.db.execute(
            select(ExternalGrant, User).join(User, User.id == ExternalGrant.user_id)
            .where(ExternalGrant.patient_id == patient_id, ExternalGrant.revoked_at.is_(None))
            .order_by(ExternalGrant.granted_at, ExternalGrant.id))
        grants = [(grant, user) for grant, user in rows.all()]
        await self.auditor.record("external_access.list", "ExternalGrant", None,
                                  patient_id=patient_id)
        return grants
