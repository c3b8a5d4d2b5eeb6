"""Tables of the embedded openEHR store: EHRs, versioned compositions, uploaded templates."""

from __future__ import annotations

from datetime import datetime
from typing import Any

from sqlalchemy import (
    JSON,
    Boolean,
    ForeignKey,
    Index,
    Integer,
    String,
    Text,
    UniqueConstraint,
    false,
)
from sqlalchemy.orm import Mapped, mapped_column

from quill.db.base import Base


class Ehr(Base):
    __tablename__ = "openehr_ehrs"
    __table_args__ = (UniqueConstraint("subject_namespace", "subject_id"),)

    id: Mapped[str] = mapped_column(String(36), primary_key=True)
    # Both empty for an EHR created without a subject (openEHR lets the server choose).
    subject_id: Mapped[str | None] = mapped_column(String(128))
    subject_namespace: Mapped[str | None] = mapped_column(String(128))
    created_at: Mapped[datetime]


class VersionedComposition(Base):
    """One composition across its versions; summary columns mirror the latest version."""

    __tablename__ = "openehr_compositions"
    __table_args__ = (
        Index("ix_openehr_compositions_listing", "ehr_id", "archetype_node_id",
              "start_time", "id"),
    )

    id: Mapped[str] = mapped_column(String(36), primary_key=True)
    ehr_id: Mapped[str] = mapped_column(ForeignKey("openehr_ehrs.id", ondelete="CASCADE"))
    archetype_node_id: Mapped[str] = mapped_column(String(255))
    latest_version: Mapped[int] = mapped_column(Integer)
    name: Mapped[str] = mapped_column(Text)
    composer_name: Mapped[str | None] = mapped_column(Text)
    start_time: Mapped[datetime]
    created_at: Mapped[datetime]
    updated_at: Mapped[datetime]
    # The latest version is a deletion: lists skip it, reads of the latest find nothing.
    deleted: Mapped[bool] = mapped_column(Boolean, default=False, server_default=false())


class CompositionVersion(Base):
    """Every committed version is kept, in canonical JSON, and stays readable.

    A deletion is a version too (change type ``deleted``) and carries no data.
    """

    __tablename__ = "openehr_composition_versions"
    __table_args__ = (UniqueConstraint("composition_id", "version"),)

    id: Mapped[int] = mapped_column(Integer, primary_key=True)
    composition_id: Mapped[str] = mapped_column(
        ForeignKey("openehr_compositions.id", ondelete="CASCADE"))
    version: Mapped[int] = mapped_column(Integer)
    data: Mapped[dict[str, Any] | None] = mapped_column(JSON)
    change_type: Mapped[str] = mapped_column(String(16), default="creation",
                                             server_default="creation")
    committed_at: Mapped[datetime]


class OperationalTemplate(Base):
    """Templates uploaded through the facade (the embedded store does not validate by them)."""

    __tablename__ = "openehr_templates"

    template_id: Mapped[str] = mapped_column(String(255), primary_key=True)
    content: Mapped[str] = mapped_column(Text)
    uploaded_at: Mapped[datetime]
