"""A per-request auditor that fills in the actor and request id."""

from __future__ import annotations

from typing import Annotated

from fastapi import Depends, Request
from sqlalchemy.ext.asyncio import AsyncSession

from quill.audit.models import AuditEvent
from quill.audit.service import AuditEntry, record
from quill.clock import Clock
from quill.web.deps import DbSession, RuntimeDep


class Auditor:
    def __init__(self, db: AsyncSession, clock: Clock, request: Request | None) -> None:
        self.db = db
        self.clock = clock
        self.request = request

    def _state(self, key: str) -> object:
        if self.request is None:
            return None
        return getattr(self.request.state, key, None)

    async def record(
        self,
        action: str,
        resource_type: str,
        resource_id: str | None = None,
        *,
        patient_id: str | None = None,
        actor_id: int | None = None,
    ) -> AuditEvent:
        actor = actor_id if actor_id is not None else self._state("user_id")
        request_id = self._state("request_id")
        return await record(self.db, self.clock, AuditEntry(
            action=action, resource_type=resource_type, resource_id=resource_id,
            patient_id=patient_id,
            actor_id=actor if isinstance(actor, int) else None,
            request_id=request_id if isinstance(request_id, str) else None,
        ))


async def get_auditor(request: Request, db: DbSession, runtime: RuntimeDep) -> Auditor:
    return Auditor(db, runtime.clock, request)


AuditorDep = Annotated[Auditor, Depends(get_auditor)]
