"""Organisations, who works in them, which patients belong to them, and their features."""

from __future__ import annotations

from datetime import datetime
from enum import StrEnum

from sqlalchemy import Integer, String
from sqlalchemy.orm import Mapped, mapped_column

from quill.db.base import Base


class OrganisationType(StrEnum):
    HOSPITAL_TEAM = "hospital_team"
    GP_PRACTICE = "gp_practice"
    PRIVATE_CLINIC = "private_clinic"
    DEPARTMENT = "department"
    TEACHING_ESTABLISHMENT = "teaching_establishment"


class Organisation(Base):
    __tablename__ = "organisations"

    id: Mapped[int] = mapped_column(Integer, primary_key=True)
    name: Mapped[str] = mapped_column(String(200))
    type: Mapped[str] = mapped_column(String(40))
    location: Mapped[str | None] = mapped_column(String(200))
    created_at: Mapped[datetime]
    updated_at: Mapped[datetime]
