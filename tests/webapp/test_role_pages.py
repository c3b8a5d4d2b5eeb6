"""Every page of tests/webapp/role_pages.py for every kind of caller, signed in through
the sign-in form with the session cookies a browser holds."""

from __future__ import annotations

from contextlib import AsyncExitStack

import httpx
import pytest
from fastapi import FastAPI

from tests.access.world import build_world
from tests.webapp.role_pages import KINDS, ROWS, SIGN_IN
from tests.webapp.support import assert_page_headers, browser, form_token, sign_in


@pytest.mark.parametrize("kind", KINDS)
async def test_every_page_answers_each_role_as_the_api_would(app: FastAPI, kind: str) -> None:
    world = await build_world(app, prefix=f"pages-{kind.replace('_', '-')}-", headers=False)
    ids = world.ids
    wrong: list[str] = []
    async with AsyncExitStack() as stack:
        http: httpx.AsyncClient = await stack.enter_async_context(browser(app))
        token = ""
        if kind != "anonymous":
            signed = await sign_in(http, world.users[kind].username)
            assert signed.status_code == 303, signed.text
            token = form_token(await http.get("/account"))
        for row in ROWS:
            path = row.path.format(**ids)
            data = {**(row.form(ids) if row.form else {}), "csrf_token": token}
            response = await (http.get(path) if row.method == "GET"
                              else http.post(path, data=data))
            expected = row.expected[kind]
            if response.status_code != expected:
                wrong.append(f"{row.name}: {response.status_code} != {expected}")
                continue
            assert_page_headers(response)
            if expected == SIGN_IN and kind == "anonymous":
                assert response.headers["location"].startswith("/sign-in"), row.name
    assert not wrong, "\n".join(wrong)


async def test_admin_forms_are_refused_without_their_csrf_token(app: FastAPI) -> None:
    world = await build_world(app, prefix="csrf-admin-", headers=False)
    ids = world.ids
    async with browser(app) as http:
        assert (await sign_in(http, world.users["admin"].username)).status_code == 303
        for row in ROWS:
            if row.method != "POST":
                continue
            data = row.form(ids) if row.form else {}
            for token in ({}, {"csrf_token": "forged"}):
                response = await http.post(row.path.format(**ids), data={**data, **token})
                assert response.status_code == 403, row.name
        # Nothing above took effect: the staff member is still active and unrenamed.
        page = await http.get(f"/admin/users/{ids['staff_same']}")
        assert "Deactivated" not in page.text
        assert "Org A renamed" not in (await http.get(f"/admin/organisations/{ids['org_a']}")).text
