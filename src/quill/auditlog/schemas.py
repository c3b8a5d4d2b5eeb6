"""Audit trail response bodies."""

from __future__ import annotations

from datetime import datetime

from pydantic import BaseModel


class CheckpointOut(BaseModel):
    seq: int
    time: str


class ChainStateOut(BaseModel):
    ok: bool
    first_seq: int
    last_seq: int
    checked: int
    first_bad_seq: int | None
    reason: str | None
    checkpoints_in_window: int
    window: int
    latest_checkpoint: CheckpointOut | None


class AuditEntryOut(BaseModel):
    seq: int
    at: datetime
    actor_id: int | None
    username: str | None
    action: str
    resource_type: str
    resource_id: str | None
    patient_id: str | None


class AuditEntryList(BaseModel):
    entries: list[AuditEntryOut]
    next_cursor: str | None = None
