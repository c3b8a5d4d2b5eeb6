"""Grants that let an outside clinician or a relative see one patient, and their invites."""

from __future__ import annotations

from datetime import datetime

from sqlalchemy import ForeignKey, Integer, String
from sqlalchemy.orm import Mapped, mapped_column

from quill.db.base import Base


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
