"""Fixtures of the page tests; the browser fixtures live in tests/webapp/browser.py."""

from __future__ import annotations

from tests.auth.conftest import app_factory

__all__ = ["app_factory"]
