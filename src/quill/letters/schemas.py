"""Letters API bodies."""

from __future__ import annotations

from datetime import datetime
from typing import Any

from pydantic import BaseModel, ConfigDict, EmailStr, Field


class LetterIn(BaseModel):
    model_config = ConfigDict(extra="forbid")

    title: str = Field(min_length=1, max_length=500)
    body: str = Field(max_length=100_000)
    author_name: str | None = Field(default=None, max_length=200)
    author_email: EmailStr | None = None


class LetterCreated(BaseModel):
    patient_id: str
    composition_uid: str
    title: str


class LetterSummary(BaseModel):
    composition_uid: str
    title: str
    author_name: str | None
    created_at: datetime


class LetterList(BaseModel):
    patient_id: str
    letters: list[LetterSummary]
    next_cursor: str | None


class LetterOut(BaseModel):
    patient_id: str
    composition_uid: str
    data: dict[str, Any]
