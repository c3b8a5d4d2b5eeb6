"""What each permission level may do to another: one table, one module."""

from __future__ import annotations

import pytest

from quill.errors import Forbidden
from quill.identity.levels import PermissionLevel, ensure_may_set_level, may_manage

P = PermissionLevel
ALL = list(PermissionLevel)
BELOW_ADMIN = [P.PATIENT, P.EXTERNAL_HCP, P.PATIENT_ADVOCATE, P.STAFF]


@pytest.mark.parametrize("target", ALL)
def test_superadmin_manages_everyone(target: PermissionLevel) -> None:
    assert may_manage(P.SUPERADMIN, target)


@pytest.mark.parametrize("target", ALL)
def test_admin_manages_only_staff_and_below(target: PermissionLevel) -> None:
    assert may_manage(P.ADMIN, target) is (target in BELOW_ADMIN)


@pytest.mark.parametrize("actor", BELOW_ADMIN)
@pytest.mark.parametrize("target", ALL)
def test_below_admin_manages_nobody(actor: PermissionLevel, target: PermissionLevel) -> None:
    assert not may_manage(actor, target)


@pytest.mark.parametrize("new", [P.ADMIN, P.SUPERADMIN])
def test_admin_cannot_create_or_promote_to_admin(new: PermissionLevel) -> None:
    with pytest.raises(Forbidden):
        ensure_may_set_level(P.ADMIN, new)
    with pytest.raises(Forbidden):
        ensure_may_set_level(P.ADMIN, new, current=P.STAFF)


def test_admin_cannot_demote_an_admin() -> None:
    with pytest.raises(Forbidden):
        ensure_may_set_level(P.ADMIN, P.STAFF, current=P.ADMIN)


@pytest.mark.parametrize("new", ALL)
def test_superadmin_sets_any_level_on_others(new: PermissionLevel) -> None:
    ensure_may_set_level(P.SUPERADMIN, new, current=P.ADMIN)
    ensure_may_set_level(P.SUPERADMIN, new)


@pytest.mark.parametrize("actor", [P.ADMIN, P.SUPERADMIN])
def test_nobody_changes_their_own_level(actor: PermissionLevel) -> None:
    with pytest.raises(Forbidden):
        ensure_may_set_level(actor, P.STAFF, current=actor, is_self=True)
    ensure_may_set_level(actor, actor, current=actor, is_self=True)  # no change is fine


def test_admin_moves_staff_and_below() -> None:
    ensure_may_set_level(P.ADMIN, P.STAFF, current=P.PATIENT)
    ensure_may_set_level(P.ADMIN, P.PATIENT, current=P.STAFF)
    ensure_may_set_level(P.ADMIN, P.EXTERNAL_HCP)
