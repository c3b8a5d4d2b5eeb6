"""External access request and response bodies."""

from __future__ import annotations

from datetime import datetime
from typing import Annotated, Literal

from pydantic import BaseModel, ConfigDict, Field

from quill.auth.schemas import Email, Password, Text, Username

ExternalType = Literal["external_hcp", "patient_advocate"]


class InviteIn(BaseModel):
    model_config = ConfigDict(extra="forbid")

    email: Email
    user_type: ExternalType


class InviteOut(BaseModel):
    invite_url: str
    token: str


class AcceptIn(BaseModel):
    model_config = ConfigDict(extra="forbid")

    token: Annotated[Text, Field(min_length=1, max_length=200)]
    username: Username | None = None
    password: Password | None = None


class Accepted(BaseModel):
    status: Literal["registered", "access_granted"]
    user_id: int


class Revoked(BaseModel):
    status: Literal["revoked"]


class GrantOut(BaseModel):
    user_id: int
    username: str
    email: str
    user_type: str
    granted_at: datetime
    access_level: str


class GrantList(BaseModel):
    grants: list[GrantOut]
