"""Reuse the patients world."""

from __future__ import annotations

from tests.patients.conftest import clinic

__all__ = ["clinic"]
