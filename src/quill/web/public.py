"""Routes that answer without a signed-in caller. Everything else depends on get_caller.

A test walks the route table and fails on any route that is reachable anonymously but is
not listed here. Entries are (method, path template) as mounted, including ``/api``.
"""

from __future__ import annotations

PUBLIC_ROUTES: frozenset[tuple[str, str]] = frozenset({
    ("GET", "/api/push/vapid-public-key"),
    ("POST", "/api/auth/login"),
    # Authenticated by the refresh cookie instead of an access token.
    ("POST", "/api/auth/refresh"),
    ("POST", "/api/auth/register"),
    ("POST", "/api/auth/forgot-password"),
    ("POST", "/api/auth/reset-password"),
    ("GET", "/api/auth/organizations"),
    ("GET", "/api/health"),
    ("GET", "/api/health/live"),
    ("GET", "/api/health/ready"),
    # Anyone holding an invite token; an existing account must also be signed in.
    ("POST", "/api/accept-invite"),
    ("GET", "/api/openapi.json"),
    ("GET", "/api/docs"),
    ("GET", "/api/redoc"),
    ("GET", "/metrics"),
    # FHIR capability discovery: clients read it before they authenticate. The statement
    # holds no data, only what the facade supports.
    ("GET", "/fhir/metadata"),
})
