"""Reading the audit trail: the chain's state and the latest entries, for admins only.

Recording and verifying live in quill.audit; this service decides who may look and reads
through the same verification code as ``quill verify-audit``, bounded to a recent window
so an admin's page stays fast however long the chain is.
"""

from __future__ import annotations

import asyncio
from dataclasses import dataclass
from datetime import datetime
from pathlib import Path

from sqlalchemy import select
from sqlalchemy.ext.asyncio import AsyncSession

from quill.audit.checkpoints import Checkpoint, recent_marks
from quill.audit.models import AuditEvent
from quill.audit.service import Auditor
from quill.audit.verify import VerifyResult, verify_recent
from quill.db.keyset import decode_cursor, next_cursor
from quill.errors import Forbidden
from quill.identity.caller import Caller
from quill.identity.models import User

# Entries re-hashed per look at the chain's state: a few milliseconds' work.
VERIFY_WINDOW = 2_000


@dataclass(frozen=True)
class ChainState:
    """The recent window's verification and the newest checkpoint found on disk."""

    result: VerifyResult
    last_seq: int
    latest_checkpoint: Checkpoint | None
    window: int


@dataclass(frozen=True)
class AuditRow:
    seq: int
    at: datetime
    actor_id: int | None
    username: str | None
    action: str
    resource_type: str
    resource_id: str | None
    patient_id: str | None


@dataclass(frozen=True)
class AuditPage:
    entries: list[AuditRow]
    next_cursor: str | None


@dataclass(frozen=True)
class AuditLogService:
    db: AsyncSession
    caller: Caller
    auditor: Auditor
    key: bytes
    checkpoint_path: Path
    window: int = VERIFY_WINDOW

    def _require_admin(self) -> None:
        if not self.caller.is_admin:
            raise Forbidden("Admin access required")

    async def chain_state(self) -> ChainState:
        self._require_admin()
        marks = await asyncio.to_thread(recent_marks, self.checkpoint_path, self.key)
        result = await verify_recent(self.db, self.key, marks, self.window)
        points = [mark for mark in marks if isinstance(mark, Checkpoint)]
        last = result.first_seq + result.checked - 1 if result.checked else 0
        return ChainState(result=result, last_seq=last,
                          latest_checkpoint=points[-1] if points else None,
                          window=self.window)

    async def entries(self, *, actor_id: int | None, patient_id: str | None, limit: int,
                      cursor: str | None) -> AuditPage:
        """Newest first, filtered by who acted and/or which patient; the look is audited."""
        self._require_admin()
        before = decode_cursor(cursor)
        query = (select(AuditEvent, User.username)
                 .outerjoin(User, User.id == AuditEvent.actor_id)
                 .order_by(AuditEvent.seq.desc()).limit(limit + 1))
        if actor_id is not None:
            query = query.where(AuditEvent.actor_id == actor_id)
        if patient_id is not None:
            query = query.where(AuditEvent.patient_id == patient_id)
        if before is not None:
            query = query.where(AuditEvent.seq < before)
        rows = (await self.db.execute(query)).all()
        entries = [AuditRow(seq=e.seq, at=e.at, actor_id=e.actor_id, username=username,
                            action=e.action, resource_type=e.resource_type,
                            resource_id=e.resource_id, patient_id=e.patient_id)
                   for e, username in rows[:limit]]
        await self.auditor.record("audit.read", "AuditEvent", None, patient_id=patient_id)
        return AuditPage(entries, next_cursor([e.seq for e, _ in rows], limit))
