"""Permission levels and what each may do in outline. The one place that orders them."""

from __future__ import annotations

from enum import StrEnum


class PermissionLevel(StrEnum):
    PATIENT = "patient"
    EXTERNAL_HCP = "external_hcp"
    PATIENT_ADVOCATE = "patient_advocate"
    STAFF = "staff"
    ADMIN = "admin"
    SUPERADMIN = "superadmin"


EXTERNAL_LEVELS = frozenset({PermissionLevel.EXTERNAL_HCP, PermissionLevel.PATIENT_ADVOCATE})
_RANK = {
    PermissionLevel.PATIENT: 0,
    PermissionLevel.EXTERNAL_HCP: 1,
    PermissionLevel.PATIENT_ADVOCATE: 1,
    PermissionLevel.STAFF: 2,
    PermissionLevel.ADMIN: 3,
    PermissionLevel.SUPERADMIN: 4,
}


def rank(level: PermissionLevel) -> int:
    return _RANK[level]


def at_least(level: PermissionLevel, minimum: PermissionLevel) -> bool:
    return rank(level) >= rank(minimum)


def is_admin(level: PermissionLevel) -> bool:
    return at_least(level, PermissionLevel.ADMIN)


def is_staff(level: PermissionLevel) -> bool:
    return at_least(level, PermissionLevel.STAFF)


def is_external(level: PermissionLevel) -> bool:
    return level in EXTERNAL_LEVELS


def parse_level(value: str) -> PermissionLevel | None:
    try:
        return PermissionLevel(value)
    except ValueError:
        return None
