"""CBAC rules: validating ids, who may grant what, and changing a user's competencies."""

from __future__ import annotations

from dataclasses import dataclass

from quill.access.cbac import final_competencies, load_catalogue
from quill.errors import Forbidden, Invalid
from quill.identity.caller import UserIdentity
from quill.identity.levels import (
    PermissionLevel,
    ensure_may_manage,
    may_grant_high_risk,
    parse_level,
)
from quill.identity.models import User


def require_level(value: str) -> PermissionLevel:
    level = parse_level(value)
    if level is None:
        valid = ", ".join(level.value for level in PermissionLevel)
        raise Invalid(f"Unknown permission level: {value}. Valid levels: {valid}")
    return level


def validate_profession(profession: str) -> None:
    if profession not in load_catalogue().professions:
        raise Invalid(f"Unknown profession: {profession}")


def validate_competencies(ids: list[str]) -> None:
    unknown = load_catalogue().unknown_competencies(ids)
    if unknown:
        raise Invalid(f"Unknown competency: {', '.join(unknown)}")


def ensure_may_grant(actor: PermissionLevel, before: list[str], after: list[str]) -> None:
    """Newly added high-risk competencies need an admin; removing is never restricted here."""
    catalogue = load_catalogue()
    added = [c for c in after if c not in before and catalogue.is_high_risk(c)]
    if added and not may_grant_high_risk(actor):
        raise Forbidden(f"Granting a high risk competency needs an admin: {', '.join(added)}")


def _dedupe(ids: list[str]) -> list[str]:
    return list(dict.fromkeys(ids))


@dataclass(frozen=True)
class CompetencyChange:
    base_profession: str | None = None
    additional: list[str] | None = None
    removed: list[str] | None = None

    @property
    def is_empty(self) -> bool:
        return self.base_profession is None and self.additional is None and self.removed is None


def validate_change(change: CompetencyChange) -> None:
    """Every id must be known: a 400 before any permission question is asked."""
    if change.base_profession is not None:
        validate_profession(change.base_profession)
    validate_competencies([*(change.additional or []), *(change.removed or [])])


def apply_change(actor: User | UserIdentity, target: User, change: CompetencyChange) -> bool:
    """Apply a validated change to ``target``; returns whether anything changed.

    A user never changes their own competencies, whatever their level: a second admin
    must do it, which keeps self-granting impossible.
    """
    actor_level = parse_level(actor.system_permissions) or PermissionLevel.PATIENT
    target_level = parse_level(target.system_permissions) or PermissionLevel.PATIENT
    new_profession = change.base_profession or target.base_profession
    new_additional = (_dedupe(change.additional) if change.additional is not None
                      else list(target.additional_competencies))
    new_removed = (_dedupe(change.removed) if change.removed is not None
                   else list(target.removed_competencies))
    if (new_profession, new_additional, new_removed) == (
        target.base_profession, list(target.additional_competencies),
        list(target.removed_competencies),
    ):
        return False
    if actor.id == target.id:
        raise Forbidden("You cannot change your own competencies")
    ensure_may_manage(actor_level, target_level)
    before = final_competencies(target.base_profession, list(target.additional_competencies),
                                list(target.removed_competencies))
    ensure_may_grant(actor_level, before, new_additional)
    target.base_profession = new_profession
    target.additional_competencies = new_additional
    target.removed_competencies = new_removed
    return True
