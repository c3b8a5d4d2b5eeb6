"""Runs the role × page table (tests/webapp/role_pages.py) through the pages, as a
browser with JavaScript off: cookies, and the form's CSRF token on every POST."""

from __future__ import annotations

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
