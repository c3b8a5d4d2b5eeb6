"""Grants that let an outside clinician or a relative see one patient, and their invites."""

from __future__ import annotations

from datetime import datetime

from sqlalchemy import ForeignKey, Index, Integer, String
from sqlalchemy.orm import Mapped, mapped_column

from quill.db.base import Base


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


class ExternalInvite(Base):
    __tablename__ = "external_invites"

    id: Mapped[int] = mapped_column(Integer, primary_key=True)
    # SHA-256 of the token: a leaked table does not leak usable invites.
    token_hash: Mapped[str] = mapped_column(String(64), unique=True)
    patient_id: Mapped[str] = mapped_column(String(64))
    email: Mapped[str] = mapped_column(String(320))
    user_type: Mapped[str] = mapped_column(String(32))
    invited_by: Mapped[int | None] = mapped_column(ForeignKey("users.id", ondelete="SET NULL"))
    created_at: Mapped[datetime]
    expires_at: Mapped[datetime]
    used_at: Mapped[datetime | None]
    grant_id: Mapped[int | None] = mapped_column(
        ForeignKey("external_grants.id", ondelete="SET NULL"))
