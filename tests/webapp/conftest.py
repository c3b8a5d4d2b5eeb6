"""Fixtures of the page tests: apps with other settings, and the browser fixtures."""

from __future__ import annotations

from tests.auth.conftest import app_factory
from tests.webapp.browser import browser, chromium, live_server

__all__ = ["app_factory", "browser", "chromium", "live_server"]
