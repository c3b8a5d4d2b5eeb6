"""Permission levels and what each may do in outline. The one place that orders them."""

from __future__ import annotations

from enum import StrEnum

from quill.errors import Forbidden


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


# --- What one level may do to another -------------------------------------------------
# The one place these rules live: users admin, CBAC and organisations all ask here.

def may_manage(actor: PermissionLevel, target: PermissionLevel) -> bool:
    """Superadmins manage everyone; admins manage staff and below; nobody else manages."""
    if actor is PermissionLevel.SUPERADMIN:
        return True
    if actor is PermissionLevel.ADMIN:
        return not is_admin(target)
    return False


def ensure_may_manage(actor: PermissionLevel, target: PermissionLevel) -> None:
    if not may_manage(actor, target):
        raise Forbidden("Only a superadmin may manage admin accounts"
                        if is_admin(actor) else "Admin access required")


def ensure_may_set_level(
    actor: PermissionLevel, new: PermissionLevel, *,
    current: PermissionLevel | None = None, is_self: bool = False,
) -> None:
    """Check creating a user at ``new`` (current None) or moving one from ``current``.

    Granting or taking away admin/superadmin is a superadmin's act, and nobody changes
    their own level (even a superadmin: a second superadmin must do it).
    """
    if current is not None and current is new:
        return
    if is_self:
        raise Forbidden("You cannot change your own permission level")
    if current is not None:
        ensure_may_manage(actor, current)
    if not may_manage(actor, new):
        raise Forbidden("Only a superadmin may grant admin or superadmin"
                        if is_admin(actor) else "Admin access required")


def may_grant_high_risk(actor: PermissionLevel) -> bool:
    return is_admin(actor)
