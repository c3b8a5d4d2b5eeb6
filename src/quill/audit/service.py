"""Recording audit entries. Entries join the caller's transaction and are chained, keyed,
when it commits (see quill.audit.chain); verifying lives in quill.audit.verify."""

from __future__ import annotations

from dataclasses import dataclass

from sqlalchemy.ext.asyncio import AsyncSession

from quill.audit.chain import AuditEntry, stage
from quill.audit.verify import VerifyResult, verify_chain
from quill.clock import Clock

__all__ = ["AuditEntry", "Auditor", "VerifyResult", "record", "verify_chain"]


async def record(db: AsyncSession, clock: Clock, entry: AuditEntry) -> None:
    """Add one entry to the current transaction; it reaches the chain when that commits."""
    await stage(db, clock.now(), entry)


@dataclass(frozen=True)
class Auditor:
    """Appends entries for one unit of work. Who acts and for which request come in as
    data, so services audit the same way for HTTP, the CLI and demo seeding."""

    db: AsyncSession
    clock: Clock
    request_id: str | None = None
    actor_id: int | None = None
    client_address: str | None = None

    async def record(
        self,
        action: str,
        resource_type: str,
        resource_id: str | None = None,
        *,
        patient_id: str | None = None,
        actor_id: int | None = None,
    ) -> None:
        """``actor_id`` names the actor when the request has none yet (a login, say)."""
        await record(self.db, self.clock, AuditEntry(
            action=action, resource_type=resource_type, resource_id=resource_id,
            patient_id=patient_id,
            actor_id=actor_id if actor_id is not None else self.actor_id,
            request_id=self.request_id, client_address=self.client_address,
        ))
