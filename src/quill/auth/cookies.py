"""The three auth cookies, set and cleared with identical attributes."""

from __future__ import annotations

from starlette.responses import Response

from quill.auth.deps import ACCESS_COOKIE, CSRF_COOKIE, REFRESH_COOKIE
from quill.auth.sessions import IssuedTokens
from quill.settings import Settings

REFRESH_PATH = "/api/auth/refresh"


def set_auth_cookies(response: Response, tokens: IssuedTokens, settings: Settings) -> None:
    secure = settings.secure_cookies
    access_age = settings.access_token_minutes * 60
    response.set_cookie(ACCESS_COOKIE, tokens.access_token, max_age=access_age, path="/",
                        httponly=True, samesite="lax", secure=secure)
    response.set_cookie(REFRESH_COOKIE, tokens.refresh_token,
                        max_age=settings.refresh_token_days * 86400, path=REFRESH_PATH,
                        httponly=True, samesite="lax", secure=secure)
    # Readable by scripts on purpose: the page copies it into the X-CSRF-Token header.
    response.set_cookie(CSRF_COOKIE, tokens.csrf_token, max_age=access_age, path="/",
                        httponly=False, samesite="lax", secure=secure)


def clear_auth_cookies(response: Response, settings: Settings) -> None:
    secure = settings.secure_cookies
    response.delete_cookie(ACCESS_COOKIE, path="/", httponly=True, samesite="lax",
                           secure=secure)
    response.delete_cookie(REFRESH_COOKIE, path=REFRESH_PATH, httponly=True, samesite="lax",
                           secure=secure)
    response.delete_cookie(CSRF_COOKIE, path="/", httponly=False, samesite="lax",
                           secure=secure)
