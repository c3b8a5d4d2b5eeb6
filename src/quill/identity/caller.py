"""Who is calling: a read-only snapshot of the account behind a request, and the caller.

Access decisions read it; code that changes the account loads the row itself
(``Caller.account``), so a snapshot can be kept between requests without ever being
written back by accident.
"""

from __future__ import annotations

from dataclasses import dataclass

from sqlalchemy.ext.asyncio import AsyncSession

from quill.errors import Unauthenticated
from quill.identity.levels import PermissionLevel, is_admin, is_staff, parse_level
from quill.identity.models import User


@dataclass(frozen=True, slots=True)
class UserIdentity:
    id: int
    username: str
    full_name: str
    email: str
    system_permissions: str
    base_profession: str
    additional_competencies: tuple[str, ...]
    removed_competencies: tuple[str, ...]
    totp_enabled: bool
    fhir_patient_id: str | None

    @classmethod
    def of(cls, user: User) -> UserIdentity:
        return cls(
            id=user.id, username=user.username, full_name=user.full_name or "",
            email=user.email, system_permissions=user.system_permissions,
            base_profession=user.base_profession,
            additional_competencies=tuple(user.additional_competencies or ()),
            removed_competencies=tuple(user.removed_competencies or ()),
            totp_enabled=bool(user.totp_enabled), fhir_patient_id=user.fhir_patient_id,
        )


SESSION_GONE = "Session is no longer valid"


@dataclass(frozen=True)
class Caller:
    user: UserIdentity
    session_id: str
    via_cookie: bool
    # Feature flags of the caller's primary organisation, as /auth/me shows them.
    primary_features: tuple[str, ...] = ()
    # Whether the caller has a primary organisation, whose features then apply to them.
    in_organisation: bool = False

    @classmethod
    def of(cls, user: User, session_id: str = "", *, via_cookie: bool = False) -> Caller:
        return cls(UserIdentity.of(user), session_id, via_cookie)

    @property
    def user_id(self) -> int:
        return self.user.id

    @property
    def username(self) -> str:
        return self.user.username

    @property
    def level(self) -> PermissionLevel:
        return parse_level(self.user.system_permissions) or PermissionLevel.PATIENT

    @property
    def fhir_patient_id(self) -> str | None:
        return self.user.fhir_patient_id

    @property
    def is_admin(self) -> bool:
        return is_admin(self.level)

    @property
    def is_staff(self) -> bool:
        return is_staff(self.level)

    async def account(self, db: AsyncSession) -> User:
        """The caller's row in this request's transaction, for code that changes it."""
        user = await db.get(User, self.user_id)
        if user is None or not user.is_active:
            raise Unauthenticated(SESSION_GONE)
        return user
