"""A read-only snapshot of the account behind a request.

Access decisions read it; code that changes the account loads the row itself
(``Caller.account``), so a snapshot can be kept between requests without ever being
written back by accident.
"""

from __future__ import annotations

from dataclasses import dataclass

from quill.users.models import User


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
