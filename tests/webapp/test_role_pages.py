"""Runs the role by page table (tests/webapp/role_pages.py) through the pages, as a
browser with JavaScript off: cookies, and the form's CSRF token on every POST."""

from __future__ import annotations

import re

import pytest
from fastapi import FastAPI

from quill.identity.models import User
from tests.helpers import cookie_client
from tests.webapp.role_pages import ROLES, ROWS, PageRow, build_page_world
from tests.webapp.support import browser, form_token


@pytest.mark.parametrize("row", ROWS, ids=[row.name for row in ROWS])
async def test_role_pages(app: FastAPI, row: PageRow) -> None:
    assert set(row.expected) == set(ROLES), "every row names every role"
    wrong: list[str] = []
    for number, role in enumerate(ROLES):
        world = await build_page_world(app, prefix=f"r{number}-")
        path = row.path.format(**world.ids)
        if role == "anonymous":
            http = browser(app)
            token = form_token(await http.get("/sign-in"))
        else:
            user = User(id=world.user_ids[role], username=role)
            http = await cookie_client(app, user)
            token = http.cookies["XSRF-TOKEN"]
        try:
            data = {"csrf_token": token, **row.form} if row.method == "POST" else None
            response = await http.request(row.method, path, data=data)
        finally:
            await http.aclose()
        if response.status_code != row.expected[role]:
            wrong.append(f"{role}: {response.status_code} != {row.expected[role]}")
    assert not wrong, "\n".join(wrong)


def _listed(html: str) -> set[str]:
    return set(re.findall(r'<tr class="patient-row">\s*<th scope="row"><a href="/patients/([^"]+)"',
                          html))


@pytest.mark.parametrize("role", ["patient", "relative", "external", "staff_same"])
async def test_the_patient_list_shows_exactly_the_patients_a_role_may_open(
        app: FastAPI, role: str) -> None:
    world = await build_page_world(app, prefix=f"list-{role.replace('_', '-')}-")
    mine = {str(world.ids[key]) for key in ("patient_a", "patient_b", "patient_loose")}
    async with await cookie_client(app, User(id=world.user_ids[role])) as http:
        listed = _listed((await http.get("/patients")).text) & mine
        openable = {pid for pid in mine
                    if (await http.get(f"/patients/{pid}")).status_code == 200}
    assert listed == openable
    assert len(listed) == 1  # each of these roles may open exactly one of the three


async def test_a_withdrawn_grant_leaves_the_relatives_view_at_once(app: FastAPI) -> None:
    world = await build_page_world(app, prefix="withdraw-")
    patient_a = str(world.ids["patient_a"])
    relative = await cookie_client(app, User(id=world.user_ids["relative"]))
    patient = await cookie_client(app, User(id=world.user_ids["patient"]))
    async with relative, patient:
        assert _listed((await relative.get("/patients")).text) == {patient_a}
        assert (await relative.get(f"/patients/{patient_a}")).status_code == 200
        withdrawn = await patient.post(
            f"/my-record/access/{world.user_ids['relative']}/withdraw",
            data={"csrf_token": patient.cookies["XSRF-TOKEN"]})
        assert withdrawn.status_code == 303
        assert _listed((await relative.get("/patients")).text) == set()
        assert (await relative.get(f"/patients/{patient_a}")).status_code == 404
