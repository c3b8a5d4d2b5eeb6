"""The access model's tables: organisations, who works in them, which patients belong to
them, who holds a grant for which patient, and which features each organisation has on.

The policy and the caller's resolution read them, so they belong to access rather than to
the packages that administer them (organisations, external_access): access never imports a
domain package.
"""

from __future__ import annotations

from datetime import datetime
from enum import StrEnum

from sqlalchemy import Boolean, ForeignKey, Index, Integer, String, UniqueConstraint, text
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


class StaffMembership(Base):
    __tablename__ = "organisation_staff"
    __table_args__ = (
        UniqueConstraint("organisation_id", "user_id"),
        Index("ix_organisation_staff_user_id", "user_id"),
        # At most one primary organisation per user, enforced by the database.
        Index("uq_organisation_staff_primary", "user_id", unique=True,
              sqlite_where=text("is_primary"), postgresql_where=text("is_primary")),
    )

    id: Mapped[int] = mapped_column(Integer, primary_key=True)
    organisation_id: Mapped[int] = mapped_column(
        ForeignKey("organisations.id", ondelete="CASCADE"))
    user_id: Mapped[int] = mapped_column(ForeignKey("users.id", ondelete="CASCADE"))
    is_primary: Mapped[bool] = mapped_column(Boolean, default=False)
    created_at: Mapped[datetime]


class PatientMembership(Base):
    __tablename__ = "organisation_patients"
    __table_args__ = (
        UniqueConstraint("organisation_id", "patient_id"),
        # Covers the access policy's per-row probe (patient -> organisation) without the table.
        Index("ix_organisation_patients_patient_id", "patient_id", "organisation_id"),
    )

    id: Mapped[int] = mapped_column(Integer, primary_key=True)
    organisation_id: Mapped[int] = mapped_column(
        ForeignKey("organisations.id", ondelete="CASCADE"))
    # The FHIR Patient id; patients live in the FHIR store, not in this database.
    patient_id: Mapped[str] = mapped_column(String(64))
    is_primary: Mapped[bool] = mapped_column(Boolean, default=False)
    created_at: Mapped[datetime]


class ExternalGrant(Base):
    __tablename__ = "external_grants"
    __table_args__ = (Index("ix_external_grants_user_patient", "user_id", "patient_id"),
                      Index("ix_external_grants_patient_id", "patient_id"))

    id: Mapped[int] = mapped_column(Integer, primary_key=True)
    user_id: Mapped[int] = mapped_column(ForeignKey("users.id", ondelete="CASCADE"))
    patient_id: Mapped[str] = mapped_column(String(64))
    user_type: Mapped[str] = mapped_column(String(32))
    access_level: Mapped[str] = mapped_column(String(32), default="read_write")
    granted_at: Mapped[datetime]
    granted_by: Mapped[int | None] = mapped_column(ForeignKey("users.id", ondelete="SET NULL"))
    revoked_at: Mapped[datetime | None]


class OrganisationFeature(Base):
    __tablename__ = "organisation_features"
    __table_args__ = (UniqueConstraint("organisation_id", "feature_key"),)

    id: Mapped[int] = mapped_column(Integer, primary_key=True)
    organisation_id: Mapped[int] = mapped_column(
        ForeignKey("organisations.id", ondelete="CASCADE"))
    feature_key: Mapped[str] = mapped_column(String(64))
    enabled_at: Mapped[datetime]
    enabled_by: Mapped[int | None] = mapped_column(ForeignKey("users.id", ondelete="SET NULL"))
