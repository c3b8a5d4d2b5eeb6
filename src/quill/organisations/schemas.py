"""Organisation request and response bodies."""

from __future__ import annotations

from datetime import datetime

from pydantic import BaseModel, ConfigDict, Field

from quill.db.keyset import DbId
from quill.fhir.port import FHIR_ID_PATTERN


class OrganisationIn(BaseModel):
    model_config = ConfigDict(extra="forbid")

    name: str = Field(min_length=1, max_length=200)
    type: str = Field(max_length=64)
    location: str | None = Field(default=None, max_length=200)


class OrganisationPatch(BaseModel):
    model_config = ConfigDict(extra="forbid")

    name: str | None = Field(default=None, min_length=1, max_length=200)
    type: str | None = Field(default=None, max_length=64)
    location: str | None = Field(default=None, max_length=200)


class OrganisationOut(BaseModel):
    id: int
    name: str
    type: str
    location: str | None
    created_at: datetime
    updated_at: datetime


class OrganisationList(BaseModel):
    organizations: list[OrganisationOut]
    next_cursor: str | None = None


class StaffMemberOut(BaseModel):
    id: int
    username: str
    email: str
    is_primary: bool


class PatientMemberOut(BaseModel):
    patient_id: str
    is_primary: bool


class OrganisationDetail(OrganisationOut):
    staff_count: int
    patient_count: int
    staff_members: list[StaffMemberOut]
    patient_members: list[PatientMemberOut]


class StaffIn(BaseModel):
    model_config = ConfigDict(extra="forbid")

    user_id: DbId
    is_primary: bool = False


class StaffAdded(BaseModel):
    organisation_id: int
    user_id: int
    username: str


class PatientIn(BaseModel):
    model_config = ConfigDict(extra="forbid")

    patient_id: str = Field(max_length=64, pattern=FHIR_ID_PATTERN)
    is_primary: bool = False


class PatientAdded(BaseModel):
    organisation_id: int
    patient_id: str


class Removed(BaseModel):
    status: str


class FeatureOut(BaseModel):
    feature_key: str
    enabled_at: datetime
    enabled_by: int | None


class FeatureList(BaseModel):
    features: list[FeatureOut]


class FeatureToggle(BaseModel):
    model_config = ConfigDict(extra="forbid")

    enabled: bool


class FeatureStatus(BaseModel):
    status: str
