"""The three auth cookies, set and cleared with identical attributes."""

from __future__ import annotations

from dataclasses import dataclass

from starlette.responses import Response

from quill.auth.sessions import IssuedTokens
from quill.settings import Settings

ACCESS_COOKIE = "access_token"
REFRESH_COOKIE = "refresh_token"
CSRF_COOKIE = "XSRF-TOKEN"
REFRESH_PATH = "/api/auth/refresh"


@dataclass(frozen=True)
class AuthCookies:
    """How the auth routes set and clear the cookies; built once from settings."""

    secure: bool
    access_seconds: int
    refresh_seconds: int

    @classmethod
    def from_settings(cls, settings: Settings) -> AuthCookies:
        return cls(secure=settings.secure_cookies,
                   access_seconds=settings.access_token_minutes * 60,
                   refresh_seconds=settings.refresh_token_days * 86400)

    def set(self, response: Response, tokens: IssuedTokens) -> None:
        secure = self.secure
        response.set_cookie(ACCESS_COOKIE, tokens.access_token, max_age=self.access_seconds,
                            path="/", httponly=True, samesite="lax", secure=secure)
        response.set_cookie(REFRESH_COOKIE, tokens.refresh_token, max_age=self.refresh_seconds,
                            path=REFRESH_PATH, httponly=True, samesite="lax", secure=secure)
        # Readable by scripts on purpose: the page copies it into the X-CSRF-Token header.
        response.set_cookie(CSRF_COOKIE, tokens.csrf_token, max_age=self.access_seconds,
                            path="/", httponly=False, samesite="lax", secure=secure)

    def clear(self, response: Response) -> None:
        secure = self.secure
        response.delete_cookie(ACCESS_COOKIE, path="/", httponly=True, samesite="lax",
                               secure=secure)
        response.delete_cookie(REFRESH_COOKIE, path=REFRESH_PATH, httponly=True,
                               samesite="lax", secure=secure)
        response.delete_cookie(CSRF_COOKIE, path="/", httponly=False, samesite="lax",
                               secure=secure)
