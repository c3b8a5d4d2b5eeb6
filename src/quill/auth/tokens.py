"""JWTs: HS256 only, audience, type and expiry always checked."""

from __future__ import annotations

from dataclasses import dataclass
from datetime import datetime, timedelta
from enum import StrEnum
from typing import Any

import jwt

ALGORITHM = "HS256"
AUDIENCE = "quill"


class TokenType(StrEnum):
    ACCESS = "access"
    REFRESH = "refresh"


@dataclass(frozen=True)
class TokenClaims:
    typ: TokenType
    user_id: int
    session_id: str
    jti: str
    expires_at: datetime


class TokenError(Exception):
    pass


class TokenCodec:
    def __init__(self, secret: str) -> None:
        self._secret = secret

    def encode(self, claims: TokenClaims, issued_at: datetime) -> str:
        payload: dict[str, Any] = {
            "typ": claims.typ.value,
            "sub": str(claims.user_id),
            "sid": claims.session_id,
            "jti": claims.jti,
            "iat": int(issued_at.timestamp()),
            "exp": int(claims.expires_at.timestamp()),
            "aud": AUDIENCE,
        }
        return jwt.encode(payload, self._secret, algorithm=ALGORITHM)

    def decode(self, token: str, expected: TokenType, now: datetime) -> TokenClaims:
        """Verify signature, audience and type; expiry is checked against the injected clock."""
        try:
            payload = jwt.decode(
                token, self._secret, algorithms=[ALGORITHM], audience=AUDIENCE,
                options={"verify_exp": False, "require": ["exp", "sub", "sid", "jti", "typ"]},
            )
        except jwt.PyJWTError as exc:
            raise TokenError("invalid token") from exc
        if payload.get("typ") != expected.value:
            raise TokenError("wrong token type")
        exp = payload["exp"]
        if not isinstance(exp, int) or exp <= int(now.timestamp()):
            raise TokenError("token expired")
        try:
            user_id = int(payload["sub"])
        except (TypeError, ValueError) as exc:
            raise TokenError("invalid subject") from exc
        return TokenClaims(
            typ=expected, user_id=user_id, session_id=str(payload["sid"]),
            jti=str(payload["jti"]), expires_at=datetime.fromtimestamp(exp, now.tzinfo),
        )


def access_expiry(now: datetime, minutes: int) -> datetime:
    return now + timedelta(minutes=minutes)
