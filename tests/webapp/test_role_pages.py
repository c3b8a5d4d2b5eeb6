"""Every row of tests/webapp/role_pages.py for every kind of person, as a browser with
JavaScript off: signed in through the sign-in form, the session cookies it sets, and the
form's CSRF token on every POST. Then what the table cannot say: the patient list
matches what a role may open, and a withdrawn grant leaves the relative's view at once."""

from __future__ import annotations

import re
from contextlib import AsyncExitStack

import httpx
import pytest
from fastapi import FastAPI

from quill.identity.models import User
from tests.helpers import cookie_client
from tests.webapp.role_pages import ROLES, ROWS, TO_SIGN_IN, build_page_world
from tests.webapp.support import assert_page_headers, browser, form_token, sign_in


def test_every_row_names_every_role() -> None:
    assert all(set(row.expected) == set(ROLES) for row in ROWS)


@pytest.mark.parametrize("role", ROLES)
async def test_every_page_answers_each_role_as_the_api_would(app: FastAPI, role: str) -> None:
    world = await build_page_world(app, prefix=f"pages-{role.replace('_', '-')}-")
    ids = world.ids
    wrong: list[str] = []
    async with AsyncExitStack() as stack:
        http: httpx.AsyncClient = await stack.enter_async_context(browser(app))
        if role == "anonymous":
            token = form_token(await http.get("/sign-in"))
        else:
            signed = await sign_in(http, world.usernames[role])
            assert signed.status_code == 303, signed.text
            token = form_token(await http.get("/account"))
        for row in ROWS:
            path = row.path.format(**ids)
            data = {**(row.form(ids) if row.form else {}), "csrf_token": token}
            response = await (http.get(path) if row.method == "GET"
                              else http.post(path, data=data))
            expected = row.expected[role]
            if response.status_code != expected:
                wrong.append(f"{row.name}: {response.status_code} != {expected}")
                continue
            assert_page_headers(response)
            if expected == TO_SIGN_IN and role == "anonymous":
                assert response.headers["location"].startswith("/sign-in"), row.name
    assert not wrong, "\n".join(wrong)


async def test_admin_forms_are_refused_without_their_csrf_token(app: FastAPI) -> None:
    world = await build_page_world(app, prefix="csrf-admin-")
    ids = world.ids
    async with browser(app) as http:
        assert (await sign_in(http, world.usernames["admin"])).status_code == 303
        for row in ROWS:
            if row.method != "POST" or not row.path.startswith("/admin"):
                continue
            data = row.form(ids) if row.form else {}
            for token in ({}, {"csrf_token": "forged"}):
                response = await http.post(row.path.format(**ids), data={**data, **token})
                assert response.status_code == 403, row.name
        # Nothing above took effect: the staff member is still active and unrenamed.
        page = await http.get(f"/admin/users/{ids['staff_same']}")
        assert "Deactivated" not in page.text
        assert "Org A renamed" not in (await http.get(f"/admin/organisations/{ids['org_a']}")).text


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
