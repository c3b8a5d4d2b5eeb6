"""Reuse the auth tests' app factory (apps with setting overrides)."""

from __future__ import annotations

from tests.auth.conftest import app_factory

__all__ = ["app_factory"]
