"""Request and response bodies of the push routes."""

from __future__ import annotations

import binascii
from typing import Annotated

from pydantic import BaseModel, ConfigDict, Field, StringConstraints, field_validator

from quill.push.keys import b64url_decode
from quill.push.models import MAX_ENDPOINT_LENGTH

Endpoint = Annotated[str, StringConstraints(min_length=1, max_length=MAX_ENDPOINT_LENGTH)]
# expirationTime is a JavaScript number of milliseconds; larger ones are not integers there.
MAX_JS_SAFE_INTEGER = 2**53 - 1
B64Url = Annotated[str, StringConstraints(pattern=r"^[A-Za-z0-9_-]+={0,2}$", max_length=200)]


def _decoded(value: str) -> bytes:
    try:
        return b64url_decode(value)
    except (binascii.Error, ValueError) as exc:
        raise ValueError("not base64url") from exc


class PushKeys(BaseModel):
    model_config = ConfigDict(extra="forbid")
    p256dh: B64Url
    auth: B64Url

    @field_validator("p256dh")
    @classmethod
    def _p256_point(cls, value: str) -> str:
        raw = _decoded(value)
        if len(raw) != 65 or raw[0] != 4:
            raise ValueError("p256dh must be an uncompressed P-256 public key")
        return value

    @field_validator("auth")
    @classmethod
    def _auth_secret(cls, value: str) -> str:
        if len(_decoded(value)) != 16:
            raise ValueError("auth must be a 16-byte secret")
        return value


class SubscribeRequest(BaseModel):
    """A browser's ``PushSubscription.toJSON()``."""

    model_config = ConfigDict(extra="forbid", populate_by_name=True)
    endpoint: Endpoint
    keys: PushKeys
    # Browsers include it in toJSON(); accepted so a subscription can be posted as is.
    expiration_time: int | None = Field(default=None, alias="expirationTime", ge=0,
                                         le=MAX_JS_SAFE_INTEGER)


class UnsubscribeRequest(BaseModel):
    model_config = ConfigDict(extra="forbid")
    endpoint: Endpoint


class Ok(BaseModel):
    ok: bool = True


class VapidPublicKey(BaseModel):
    public_key: str
