"""The (method, path) pairs that answer without authentication; every other route
depends on ``get_caller`` (closed by default)."""

from __future__ import annotations

PUBLIC_ROUTES: frozenset[tuple[str, str]] = frozenset({
    ("GET", "/api/push/vapid-public-key"),
})
