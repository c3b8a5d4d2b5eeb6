"""Reading the audit trail back in tests."""

from __future__ import annotations

from fastapi import FastAPI
from sqlalchemy import select

from quill.audit.models import AuditEvent
from tests.helpers import runtime_of


async def audit_actions(app: FastAPI) -> list[tuple[str, str | None, int | None]]:
    """(action, patient_id, actor_id) of every audit row, oldest first."""
    async with runtime_of(app).session_factory() as db:
        rows = await db.execute(select(AuditEvent).order_by(AuditEvent.seq))
        return [(e.action, e.patient_id, e.actor_id) for e in rows.scalars().all()]
