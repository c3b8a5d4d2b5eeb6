"""Tables of the embedded FHIR store: current rows, version history and the search index."""

from __future__ import annotations

from datetime import datetime
from typing import Any

from sqlalchemy import (
    JSON,
    BigInteger,
    Boolean,
    ForeignKey,
    Index,
    Integer,
    String,
    UniqueConstraint,
)
from sqlalchemy.orm import Mapped, mapped_column

from quill.db.base import Base

BigId = BigInteger().with_variant(Integer, "sqlite")


class FhirResourceRow(Base):
    """The current version of one resource; a deleted resource keeps its row (deleted=True)."""

    __tablename__ = "fhir_resources"
    __table_args__ = (
        UniqueConstraint("resource_type", "resource_id", name="uq_fhir_resources_type_id"),
        # Keyset paging and _lastUpdated filters walk this index.
        Index("ix_fhir_resources_type_updated", "resource_type", "last_updated", "pk"),
    )

    pk: Mapped[int] = mapped_column(BigId, primary_key=True, autoincrement=True)
    resource_type: Mapped[str] = mapped_column(String(64))
    resource_id: Mapped[str] = mapped_column(String(64))
    version_id: Mapped[int] = mapped_column(Integer)
    last_updated: Mapped[datetime]
    deleted: Mapped[bool] = mapped_column(Boolean, default=False)
    content: Mapped[dict[str, Any] | None] = mapped_column(JSON, nullable=True)


class FhirVersionRow(Base):
    """Every version ever written, including deletions (content is null for those)."""

    __tablename__ = "fhir_resource_versions"
    __table_args__ = (
        UniqueConstraint("resource_pk", "version_id", name="uq_fhir_resource_versions_version"),
    )

    pk: Mapped[int] = mapped_column(BigId, primary_key=True, autoincrement=True)
    resource_pk: Mapped[int] = mapped_column(
        BigId, ForeignKey("fhir_resources.pk", ondelete="CASCADE")
    )
    version_id: Mapped[int] = mapped_column(Integer)
    last_updated: Mapped[datetime]
    method: Mapped[str] = mapped_column(String(8))
    content: Mapped[dict[str, Any] | None] = mapped_column(JSON, nullable=True)


class FhirSearchIndexRow(Base):
    """One extracted search value. Tokens and references use (system, value); strings use
    a normalised value matched by range (prefix); dates use the [low, high] instant range."""

    __tablename__ = "fhir_search_index"
    __table_args__ = (
        Index("ix_fhir_search_index_value", "resource_type", "param", "value", "system"),
        Index("ix_fhir_search_index_date", "resource_type", "param", "low", "high"),
    )

    pk: Mapped[int] = mapped_column(BigId, primary_key=True, autoincrement=True)
    resource_pk: Mapped[int] = mapped_column(
        BigId, ForeignKey("fhir_resources.pk", ondelete="CASCADE"), index=True
    )
    resource_type: Mapped[str] = mapped_column(String(64))
    param: Mapped[str] = mapped_column(String(64))
    system: Mapped[str | None] = mapped_column(String(255), nullable=True)
    value: Mapped[str | None] = mapped_column(String(255), nullable=True)
    low: Mapped[datetime | None] = mapped_column(nullable=True)
    high: Mapped[datetime | None] = mapped_column(nullable=True)
