"""Changing a user's competencies. The rules themselves are policy (quill.access.service);
this service finds the user, applies a change through them and audits it."""

from __future__ import annotations

from dataclasses import dataclass

from sqlalchemy.ext.asyncio import AsyncSession

from quill.access.service import CompetencyChange, apply_change, validate_change
from quill.audit.service import Auditor
from quill.errors import NotFound
from quill.identity.caller import Caller
from quill.identity.models import User


@dataclass
class CompetencyService:
    """An admin's changes to another user's additional and removed competencies."""

    db: AsyncSession
    caller: Caller
    auditor: Auditor

    async def change(self, user_id: int, *, additional: list[str] | None,
                     removed: list[str] | None) -> User:
        """Returns the user as it now is; a change that changes nothing is not audited."""
        change = CompetencyChange(additional=additional, removed=removed)
        validate_change(change)
        target = await self.db.get(User, user_id)
        if target is None:
            raise NotFound("User not found")
        if apply_change(self.caller.user, target, change):
            await self.db.flush()
            await self.auditor.record("user.competencies_change", "User", str(target.id))
        return target
