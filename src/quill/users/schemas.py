"""Users admin request and response bodies."""

from __future__ import annotations

from typing import Annotated

from pydantic import BaseModel, ConfigDict, EmailStr, Field

from quill.fhir.port import FHIR_ID_PATTERN

# Profession, competency and level ids from the catalogue; unknown ones are a 400 later.
CatalogueId = Annotated[str, Field(max_length=64)]


class UserCreate(BaseModel):
    model_config = ConfigDict(extra="forbid")

    name: str = Field(max_length=200)
    username: str | None = Field(default=None, min_length=1, max_length=150)
    email: EmailStr
    password: str = Field(max_length=1024)
    base_profession: CatalogueId = "patient"
    additional_competencies: list[CatalogueId] = Field(default_factory=list, max_length=100)
    removed_competencies: list[CatalogueId] = Field(default_factory=list, max_length=100)
    system_permissions: CatalogueId = "patient"


class UserUpdate(BaseModel):
    model_config = ConfigDict(extra="forbid")

    name: str | None = Field(default=None, max_length=200)
    username: str | None = Field(default=None, min_length=1, max_length=150)
    email: EmailStr | None = None
    password: str | None = Field(default=None, max_length=1024)
    base_profession: CatalogueId | None = None
    additional_competencies: list[CatalogueId] | None = Field(default=None, max_length=100)
    removed_competencies: list[CatalogueId] | None = Field(default=None, max_length=100)
    system_permissions: CatalogueId | None = None
    # False deactivates the account (its sessions end at once), true reactivates it.
    is_active: bool | None = None


class UserSaved(BaseModel):
    detail: str
    id: int
    username: str
    email: str
    is_active: bool


class UserSummary(BaseModel):
    id: int
    username: str
    email: str
    system_permissions: str
    is_active: bool


class UserList(BaseModel):
    users: list[UserSummary]
    next_cursor: str | None = None


class UserDetail(BaseModel):
    id: int
    username: str
    email: str
    name: str
    base_profession: str
    additional_competencies: list[str]
    removed_competencies: list[str]
    system_permissions: str
    is_active: bool


class LinkPatientIn(BaseModel):
    model_config = ConfigDict(extra="forbid")

    fhir_patient_id: str = Field(max_length=64, pattern=FHIR_ID_PATTERN)


class LinkPatientOut(BaseModel):
    user_id: int
    fhir_patient_id: str
