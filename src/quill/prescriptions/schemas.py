"""Controlled prescription request and response bodies."""

from __future__ import annotations

from datetime import datetime
from typing import Literal

from pydantic import BaseModel, ConfigDict, Field

from quill.fhir.port import FHIR_ID_PATTERN


class ControlledPrescriptionIn(BaseModel):
    model_config = ConfigDict(extra="forbid")

    patient_id: str = Field(max_length=64, pattern=FHIR_ID_PATTERN)
    medication: str = Field(min_length=1, max_length=200)
    dose: str = Field(min_length=1, max_length=200)
    duration_days: int = Field(ge=1, le=366)


class ControlledPrescriptionOut(BaseModel):
    status: Literal["success"]
    prescription_id: str
    prescriber: str
    patient_id: str
    medication: str
    dose: str
    duration_days: int


class ControlledPrescriptionSummary(BaseModel):
    prescription_id: str
    medication: str
    dose: str
    duration_days: int | None
    prescriber: str
    authored_on: datetime | None


class ControlledPrescriptionList(BaseModel):
    patient_id: str
    prescriptions: list[ControlledPrescriptionSummary]
