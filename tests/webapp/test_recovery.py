"""Forgotten password: the email's link opens the reset page, which sets a new password."""

from __future__ import annotations

import re
from urllib.parse import urlsplit

from fastapi import FastAPI
from sqlalchemy import select

from quill.email.models import OutboxEmail
from tests.helpers import make_user, runtime_of
from tests.webapp.support import assert_page_headers, browser, form_token, sign_in

NEW_PASSWORD = "a brand new passphrase"


async def _mails(app: FastAPI) -> list[OutboxEmail]:
    async with runtime_of(app).session_factory() as db:
        return list((await db.execute(select(OutboxEmail).order_by(OutboxEmail.id)))
                    .scalars().all())


async def test_forgot_reset_and_sign_in_with_the_new_password(app: FastAPI) -> None:
    await make_user(app, "fay", level="staff", profession="doctor", email="fay@example.org")
    async with browser(app) as http:
        form = await http.get("/forgot-password")
        for email in ("fay@example.org", "nobody@example.org"):
            sent = await http.post("/forgot-password", data={
                "csrf_token": form_token(form), "email": email})
            # The same answer whether or not an account uses the address.
            assert sent.status_code == 303
            assert sent.headers["location"] == "/forgot-password?done=reset-sent"
        assert "we have sent it a link" in (await http.get(sent.headers["location"])).text
        mails = await _mails(app)
        assert [mail.recipient for mail in mails] == ["fay@example.org"]
        match = re.search(r"(\S+/reset-password\?token=\S+)", mails[0].body)
        assert match is not None
        link = urlsplit(match.group(1))
        # The link opens the web page, not the API.
        assert link.path == "/reset-password"
        page = await http.get(f"{link.path}?{link.query}")
        assert page.status_code == 200
        assert_page_headers(page)
        token = link.query.removeprefix("token=")
        assert f'name="token" value="{token}"' in page.text
        fields = {"csrf_token": form_token(page), "token": token}
        mismatch = await http.post("/reset-password", data={
            **fields, "new_password": NEW_PASSWORD, "confirm_password": "something else"})
        assert mismatch.status_code == 400
        assert "The two passwords are not the same" in mismatch.text
        weak = await http.post("/reset-password", data={
            **fields, "new_password": "short", "confirm_password": "short"})
        assert weak.status_code == 400
        assert "Password too short" in weak.text
        done = await http.post("/reset-password", data={
            **fields, "new_password": NEW_PASSWORD, "confirm_password": NEW_PASSWORD})
        assert done.status_code == 303
        assert done.headers["location"] == "/sign-in?done=password-reset"
        again = await http.post("/reset-password", data={
            **fields, "new_password": NEW_PASSWORD, "confirm_password": NEW_PASSWORD})
        assert again.status_code == 400
        assert "This link has expired or was already used" in again.text
        assert (await sign_in(http, "fay", NEW_PASSWORD)).status_code == 303


async def test_forgot_password_needs_an_email_address(app: FastAPI) -> None:
    async with browser(app) as http:
        form = await http.get("/forgot-password")
        response = await http.post("/forgot-password", data={
            "csrf_token": form_token(form), "email": "not-an-address"})
        assert response.status_code == 400
        assert "Enter your email address" in response.text
        assert 'value="not-an-address"' in response.text


async def test_a_link_without_its_token_says_so(app: FastAPI) -> None:
    async with browser(app) as http:
        page = await http.get("/reset-password")
        assert page.status_code == 200
        assert "This link is not complete" in page.text
