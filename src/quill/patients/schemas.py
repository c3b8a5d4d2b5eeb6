"""Patient request and response bodies. Patients themselves travel as FHIR Patient JSON."""

from __future__ import annotations

from datetime import date, datetime
from typing import Any, Literal

from pydantic import BaseModel, ConfigDict, Field

from quill.fhir.port import FHIR_ID_PATTERN
from quill.patients.resource import PatientFields

Gender = Literal["male", "female", "other", "unknown"]


class _Identity(BaseModel):
    model_config = ConfigDict(extra="forbid")

    birth_date: date | None = None
    gender: Gender | None = None
    nhs_number: str | None = Field(default=None, max_length=32)
    mrn: str | None = Field(default=None, min_length=1, max_length=64)

    def _fields(self, given: str | None, family: str | None) -> PatientFields:
        return PatientFields(
            given_name=given, family_name=family,
            birth_date=self.birth_date.isoformat() if self.birth_date else None,
            gender=self.gender, nhs_number=self.nhs_number, mrn=self.mrn)


class PatientPatch(_Identity):
    given_name: str | None = Field(default=None, min_length=1, max_length=200)
    family_name: str | None = Field(default=None, min_length=1, max_length=200)

    def fields(self) -> PatientFields:
        return self._fields(self.given_name, self.family_name)


class PatientIn(_Identity):
    given_name: str = Field(min_length=1, max_length=200)
    family_name: str = Field(min_length=1, max_length=200)
    patient_id: str | None = Field(default=None, max_length=64, pattern=FHIR_ID_PATTERN)

    def fields(self) -> PatientFields:
        return self._fields(self.given_name, self.family_name)


class PatientList(BaseModel):
    patients: list[dict[str, Any]]
    fhir_ready: bool
    next_cursor: str | None = None


class Demographics(BaseModel):
    patient_id: str
    data: dict[str, Any]


class DemographicsUpdated(Demographics):
    updated: bool


class Verified(BaseModel):
    patient_id: str
    status: Literal["ready"]


class PatientMetadata(BaseModel):
    patient_id: str
    is_active: bool


class Activation(PatientMetadata):
    message: str


class SharedOrganisation(BaseModel):
    id: int
    name: str
    type: str


class SharedOrganisations(BaseModel):
    organisations: list[SharedOrganisation]


class AccessLogEntry(BaseModel):
    at: datetime
    user_id: int | None
    username: str | None
    action: str
    resource: str


class AccessLog(BaseModel):
    entries: list[AccessLogEntry]
    next_cursor: str | None = None
