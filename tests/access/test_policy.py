"""The patient-access policy, directly, for every caller kind on both backends."""

from __future__ import annotations

import pytest
from fastapi import FastAPI
from sqlalchemy import select

from quill.access.models import PatientMembership
from quill.access.policy import can_see_patient, ensure_can_see_patient, visible_patient_ids
from quill.errors import NotFound
from quill.identity.caller import Caller
from tests.access.world import World, build_world
from tests.helpers import runtime_of

# Which of the world's patients ("a", "b", "loose") each caller kind may see.
EXPECTED = {
    "patient": {"a"},
    "external": {"b"},  # the revoked grant for patient A does not count
    "staff_same": {"a"},
    "staff_other": {"b"},
    "admin": {"a", "b", "loose"},
    "superadmin": {"a", "b", "loose"},
}


def _pids(world: World, names: set[str]) -> set[str]:
    by_name = {"a": world.patient_a, "b": world.patient_b, "loose": world.patient_loose}
    return {by_name[n] for n in names}


def _all(world: World) -> list[str]:
    return [world.patient_a, world.patient_b, world.patient_loose]


@pytest.mark.parametrize("kind", sorted(EXPECTED))
async def test_can_see_patient(app: FastAPI, kind: str) -> None:
    world = await build_world(app, headers=False)
    caller = Caller.of(world.users[kind], "s")
    async with runtime_of(app).session_factory() as db:
        seen = {pid for pid in _all(world) if await can_see_patient(db, caller, pid)}
        assert seen == _pids(world, EXPECTED[kind])
        for pid in set(_all(world)) - seen:
            with pytest.raises(NotFound):
                await ensure_can_see_patient(db, caller, pid)


@pytest.mark.parametrize("kind", sorted(EXPECTED))
async def test_visible_patient_ids_filters_in_sql(app: FastAPI, kind: str) -> None:
    world = await build_world(app, headers=False)
    caller = Caller.of(world.users[kind], "s")
    visible = visible_patient_ids(caller)
    if kind in {"admin", "superadmin"}:
        assert visible is None
        return
    assert visible is not None
    async with runtime_of(app).session_factory() as db:
        query = select(PatientMembership.patient_id).where(
            PatientMembership.patient_id.in_(visible))
        found = set((await db.execute(query)).scalars().all())
    # Only patients in some organisation appear in the membership table.
    assert found == _pids(world, EXPECTED[kind] - {"loose"})


async def test_user_without_anything_sees_nobody(app: FastAPI) -> None:
    world = await build_world(app, headers=False)
    lonely = world.users["patient"]
    lonely.fhir_patient_id = None
    caller = Caller.of(lonely, "s")
    async with runtime_of(app).session_factory() as db:
        assert not [p for p in _all(world) if await can_see_patient(db, caller, p)]


async def test_staff_who_is_also_a_patient_sees_both(app: FastAPI) -> None:
    world = await build_world(app, headers=False)
    staff = world.users["staff_same"]
    staff.fhir_patient_id = world.patient_loose
    caller = Caller.of(staff, "s")
    visible = visible_patient_ids(caller)
    assert visible is not None
    async with runtime_of(app).session_factory() as db:
        assert await can_see_patient(db, caller, world.patient_loose)
        assert not await can_see_patient(db, caller, world.patient_b)
        query = select(PatientMembership.patient_id).where(
            PatientMembership.patient_id.in_(visible))
        assert set((await db.execute(query)).scalars().all()) == {world.patient_a}
