"""Turning a template and its values into a page response with the page security headers.

The Jinja environment is built once at import from the package's own templates and
filters; it holds no request state, so nothing here needs patching in tests.
"""

from __future__ import annotations

from collections.abc import Mapping
from pathlib import Path
from typing import Any
from urllib.parse import urlencode

from jinja2 import Environment, FileSystemLoader, StrictUndefined, select_autoescape
from starlette.requests import Request
from starlette.responses import HTMLResponse, RedirectResponse, Response

from quill.auth.password_policy import MIN_PASSWORD_LENGTH
from quill.web.wiring import platform_of
from quill.webapp.formatting import FILTERS
from quill.webapp.sections import shows_feature
from quill.webapp.security import FORM_COOKIE

PACKAGE_DIR = Path(__file__).resolve().parent
TEMPLATES_DIR = PACKAGE_DIR / "templates"
STATIC_DIR = PACKAGE_DIR / "static"

# No inline script or style anywhere, no plugins, no framing, forms post only here.
# ``data:`` images are not needed: the QR code is inline SVG markup.
CONTENT_SECURITY_POLICY = (
    "default-src 'self'; script-src 'self'; style-src 'self'; img-src 'self'; "
    "connect-src 'self'; font-src 'self'; object-src 'none'; base-uri 'none'; "
    "form-action 'self'; frame-ancestors 'none'"
)
PAGE_HEADERS = {"Content-Security-Policy": CONTENT_SECURITY_POLICY}


def _environment() -> Environment:
    env = Environment(
        loader=FileSystemLoader(TEMPLATES_DIR),
        autoescape=select_autoescape(["html"]),
        undefined=StrictUndefined,  # a misspelt name fails the page test, not silently
        trim_blocks=True, lstrip_blocks=True,
    )
    env.filters.update(FILTERS)
    env.globals["min_password_length"] = MIN_PASSWORD_LENGTH
    env.globals["shows_feature"] = shows_feature
    return env


TEMPLATES = _environment()


def is_htmx(request: Request) -> bool:
    return request.headers.get("hx-request") == "true"


def render(request: Request, template: str, values: Mapping[str, Any] | None = None, *,
           status_code: int = 200, headers: Mapping[str, str] | None = None) -> HTMLResponse:
    """The page (or, for an htmx request, whatever the template renders for it).

    Every template sees ``request``, ``page`` (the signed-in page context, or None) and
    ``csrf_token`` (empty when the page has no form protection set up).
    """
    state = request.scope.get("state", {})
    context: dict[str, Any] = {
        "request": request,
        "page": state.get("page"),
        "csrf_token": state.get("csrf_field", ""),
        "htmx": is_htmx(request),
        "notice": "",
        **(values or {}),
    }
    html = TEMPLATES.get_template(template).render(context)
    response = HTMLResponse(html, status_code=status_code,
                            headers={**PAGE_HEADERS, **(headers or {})})
    new_form_cookie = state.get("new_form_cookie")
    if new_form_cookie:
        response.set_cookie(FORM_COOKIE, new_form_cookie, path="/", httponly=True,
                            samesite="lax", secure=platform_of(request).settings.secure_cookies)
    return response


def redirect(path: str, **query: str) -> Response:
    """Redirect-after-post (303, so the browser follows with a GET)."""
    target = f"{path}?{urlencode(query)}" if query else path
    return RedirectResponse(target, status_code=303, headers=PAGE_HEADERS)


def safe_next(target: str | None, default: str = "/") -> str:
    """Where to go after signing in: only a path on this site, never another host."""
    if not target or not target.startswith("/") or target.startswith(("//", "/\\")):
        return default
    if any(ch in target for ch in "\r\n\\") or target.startswith("/api"):
        return default
    return target
