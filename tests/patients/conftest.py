"""Patients fixtures: a small world (an organisation with staff, admin, patient user)."""

from __future__ import annotations

from dataclasses import dataclass

import pytest
from fastapi import FastAPI

from tests.helpers import LoggedIn, logged_in, make_organisation

VALID_NHS = ("9434765919", "9434765870", "4010232137", "9000000009")


@dataclass
class Clinic:
    org_id: int
    staff: LoggedIn
    admin: LoggedIn
    outsider: LoggedIn  # staff of another organisation
    outsider_org: int


async def add_org(app: FastAPI, name: str, *user_ids: int) -> int:
    return await make_organisation(app, name, staff=user_ids)


@pytest.fixture
async def clinic(app: FastAPI) -> Clinic:
    staff = await logged_in(app, "dr-who", level="staff", profession="consultant")
    admin = await logged_in(app, "the-admin", level="admin", profession="system_administrator")
    outsider = await logged_in(app, "dr-else", level="staff", profession="consultant")
    org_id = await add_org(app, "Riverside Practice", staff.user_id)
    outsider_org = await add_org(app, "Hilltop Hospital", outsider.user_id)
    return Clinic(org_id, staff, admin, outsider, outsider_org)
