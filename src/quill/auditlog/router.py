"""Audit trail routes for admins (HTTP only; who may look is the service's rule)."""

from __future__ import annotations

from typing import Annotated

from fastapi import Depends, Query, Request

from quill.auditlog.schemas import AuditEntryList, AuditEntryOut, ChainStateOut, CheckpointOut
from quill.auditlog.service import AuditLogService
from quill.auth.deps import AdminCaller, AuditorDep, CurrentCaller
from quill.db.keyset import DEFAULT_LIMIT, MAX_DB_ID
from quill.fhir.port import FHIR_ID_PATTERN
from quill.web.deps import DbSession
from quill.web.keyset import CursorQuery, LimitQuery
from quill.web.routing import api_router
from quill.web.wiring import platform_of

router = api_router("/audit", tags=["audit"])


async def get_service(request: Request, db: DbSession, caller: CurrentCaller,
                      auditor: AuditorDep) -> AuditLogService:
    settings = platform_of(request).settings
    # The runtime resolved (in development: generated) the key at start; read, never make.
    key = settings.existing_audit_key() or settings.resolved_audit_key()
    return AuditLogService(db=db, caller=caller, auditor=auditor, key=key.encode(),
                           checkpoint_path=settings.audit_checkpoint_file)


AuditLogServiceDep = Annotated[AuditLogService, Depends(get_service)]


@router.get("/state", response_model=ChainStateOut)
async def chain_state(caller: AdminCaller, service: AuditLogServiceDep) -> ChainStateOut:
    state = await service.chain_state()
    result, point = state.result, state.latest_checkpoint
    return ChainStateOut(
        ok=result.ok, first_seq=result.first_seq, last_seq=state.last_seq,
        checked=result.checked, first_bad_seq=result.first_bad_seq, reason=result.reason,
        checkpoints_in_window=result.checkpoints, window=state.window,
        latest_checkpoint=CheckpointOut(seq=point.seq, time=point.time) if point else None)


@router.get("/entries", response_model=AuditEntryList)
async def entries(
    caller: AdminCaller, service: AuditLogServiceDep,
    user_id: Annotated[int | None, Query(ge=1, le=MAX_DB_ID)] = None,
    patient_id: Annotated[str | None, Query(max_length=64, pattern=FHIR_ID_PATTERN)] = None,
    limit: LimitQuery = DEFAULT_LIMIT, cursor: CursorQuery = None,
) -> AuditEntryList:
    page = await service.entries(actor_id=user_id, patient_id=patient_id, limit=limit,
                                 cursor=cursor)
    return AuditEntryList(entries=[AuditEntryOut(**vars(row)) for row in page.entries],
                          next_cursor=page.next_cursor)
