"""Migrations produce exactly the schema the models describe, on both backends."""

from __future__ import annotations

from quill.migrations.run import pending_model_changes


def test_migrations_match_models(database_url: str) -> None:
    assert pending_model_changes(database_url) == []
