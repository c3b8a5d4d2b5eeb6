"""Who touched a patient's record: the audit trail for one patient, newest first.

Who may read it is PatientService's rule (``access_log``); this is the query.
"""

from __future__ import annotations

from dataclasses import dataclass
from datetime import datetime

from sqlalchemy import select
from sqlalchemy.ext.asyncio import AsyncSession

from quill.audit.models import AuditEvent
from quill.db.keyset import decode_cursor, next_cursor
from quill.identity.models import User


@dataclass(frozen=True)
class LogEntry:
    at: datetime
    user_id: int | None
    username: str | None
    action: str
    resource: str


def _resource(event: AuditEvent) -> str:
    if event.resource_id:
        return f"{event.resource_type}/{event.resource_id}"
    return event.resource_type


async def read_log(db: AsyncSession, patient_id: str, *, limit: int, cursor: str | None
                   ) -> tuple[list[LogEntry], str | None]:
    before = decode_cursor(cursor)
    query = (select(AuditEvent, User.username)
             .outerjoin(User, User.id == AuditEvent.actor_id)
             .where(AuditEvent.patient_id == patient_id)
             .order_by(AuditEvent.seq.desc()).limit(limit + 1))
    if before is not None:
        query = query.where(AuditEvent.seq < before)
    rows = (await db.execute(query)).all()
    entries = [LogEntry(at=event.at, user_id=event.actor_id, username=username,
                        action=event.action, resource=_resource(event))
               for event, username in rows[:limit]]
    return entries, next_cursor([event.seq for event, _ in rows], limit)
