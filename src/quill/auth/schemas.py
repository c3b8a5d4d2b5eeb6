"""Request and response bodies of /api/auth."""

from __future__ import annotations

from datetime import datetime
from typing import Annotated

from pydantic import AfterValidator, BaseModel, ConfigDict, Field

from quill.db.keyset import DbId


def _no_nul(value: str) -> str:
    # PostgreSQL text cannot hold NUL; refuse it here rather than fail in the driver.
    if "\x00" in value:
        raise ValueError("must not contain NUL characters")
    return value


Text = Annotated[str, AfterValidator(_no_nul)]
Password = Annotated[str, Field(max_length=1024), AfterValidator(_no_nul)]
Username = Annotated[str, Field(min_length=1, max_length=150, pattern=r"^[A-Za-z0-9._@+-]+$")]
Email = Annotated[
    str, Field(max_length=320, pattern=r"^[^@\s]+@[^@\s]+\.[^@\s]+$"), AfterValidator(_no_nul)
]


class Body(BaseModel):
    model_config = ConfigDict(extra="forbid")


class LoginIn(Body):
    username: Annotated[Text, Field(max_length=320)]
    password: Password
    totp_code: Annotated[Text, Field(max_length=16)] | None = None


class RegisterIn(Body):
    username: Username
    email: Email
    password: Password
    full_name: Annotated[Text, Field(max_length=200)] | None = None
    organisation_id: DbId | None = None


class ForgotPasswordIn(Body):
    email: Annotated[Text, Field(max_length=320)]


class ResetPasswordIn(Body):
    token: Annotated[Text, Field(max_length=200)]
    new_password: Password


class ChangePasswordIn(Body):
    current_password: Password
    new_password: Password


class TotpVerifyIn(Body):
    code: Annotated[Text, Field(max_length=16)]


class TotpDisableIn(Body):
    password: Password


class DetailOut(BaseModel):
    detail: str


class LoginUser(BaseModel):
    username: str
    roles: list[str]


class LoginOut(BaseModel):
    detail: str
    user: LoginUser


class MeOut(BaseModel):
    id: int
    username: str
    name: str
    email: str
    roles: list[str]
    system_permissions: str
    totp_enabled: bool
    enabled_features: list[str]
    clinical_services_enabled: bool


class OrganizationOut(BaseModel):
    id: int
    name: str
    type: str


class OrganizationsOut(BaseModel):
    organizations: list[OrganizationOut]


class TotpSetupOut(BaseModel):
    provision_uri: str


class SessionOut(BaseModel):
    id: str
    created_at: datetime
    last_used_at: datetime
    user_agent: str
    ip: str
    current: bool


class SessionsOut(BaseModel):
    sessions: list[SessionOut]


class StatusOut(BaseModel):
    status: str

