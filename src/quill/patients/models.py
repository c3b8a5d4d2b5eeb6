"""App-side state of a patient that FHIR does not hold: whether the record is active."""

from __future__ import annotations

from datetime import datetime

from sqlalchemy import Boolean, ForeignKey, String
from sqlalchemy.orm import Mapped, mapped_column

from quill.db.base import Base


class PatientRecord(Base):
    """One row per patient created through Quill; no row means active (the default)."""

    __tablename__ = "patient_records"

    patient_id: Mapped[str] = mapped_column(String(64), primary_key=True)
    is_active: Mapped[bool] = mapped_column(Boolean, default=True)
    # A copy of the FHIR NHS number whose unique index settles concurrent creates (409).
    nhs_number: Mapped[str | None] = mapped_column(String(10), unique=True)
    created_at: Mapped[datetime]
    updated_at: Mapped[datetime]
    updated_by: Mapped[int | None] = mapped_column(ForeignKey("users.id", ondelete="SET NULL"))
