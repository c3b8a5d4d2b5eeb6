"""Signing in through the form (with and without two-factor) and signing out."""

from __future__ import annotations

import pyotp
from fastapi import FastAPI

from quill.clock import ManualClock
from tests.auth.support import audit_actions, update_user
from tests.helpers import make_user
from tests.webapp.support import assert_page_headers, browser, form_token, sign_in


async def test_sign_in_sets_the_api_cookies_and_goes_where_asked(app: FastAPI) -> None:
    await make_user(app, "ada", level="staff", profession="doctor")
    async with browser(app) as http:
        form = await http.get("/sign-in?next=/account")
        assert 'name="next" value="/account"' in form.text
        response = await http.post("/sign-in", data={
            "csrf_token": form_token(form), "username": "ada",
            "password": "correct horse battery staple", "next": "/account"})
        assert response.status_code == 303
        assert response.headers["location"] == "/account"
        assert {"access_token", "XSRF-TOKEN"} <= set(http.cookies.keys())
        # The same session serves the API.
        me = await http.get("/api/auth/me")
        assert me.status_code == 200
        assert me.json()["username"] == "ada"
    assert "auth.login" in await audit_actions(app)


async def test_a_wrong_password_is_shown_and_the_username_kept(app: FastAPI) -> None:
    await make_user(app, "bea", level="staff", profession="nurse")
    async with browser(app) as http:
        response = await sign_in(http, "bea", "not the password")
        assert response.status_code == 400
        assert "The username or password is not right." in response.text
        assert 'value="bea"' in response.text
        assert "not the password" not in response.text
        assert_page_headers(response)
        empty = await sign_in(http, "", "")
        assert empty.status_code == 400
        assert "Enter your username" in empty.text
        assert "Enter your password" in empty.text
    assert "auth.login_failed" in await audit_actions(app)


async def test_two_factor_asks_for_the_code_in_a_second_step(app: FastAPI,
                                                             clock: ManualClock) -> None:
    secret = pyotp.random_base32()
    user = await make_user(app, "cal", level="staff", profession="doctor")
    await update_user(app, user.id, totp_enabled=True, totp_secret=secret)
    async with browser(app) as http:
        step = await sign_in(http, "cal")
        assert step.status_code == 200
        assert "Code from your authenticator app" in step.text
        assert "access_token" not in http.cookies
        token = form_token(step)
        fields = {"csrf_token": token, "username": "cal",
                  "password": "correct horse battery staple"}
        wrong = await http.post("/sign-in", data={**fields, "totp_code": "000000"})
        assert wrong.status_code == 400
        assert "That code is not right" in wrong.text
        assert "Code from your authenticator app" in wrong.text
        code = pyotp.TOTP(secret).at(clock.now())
        done = await http.post("/sign-in", data={**fields, "totp_code": code})
        assert done.status_code == 303
        assert (await http.get("/")).status_code == 200


async def test_too_many_attempts_are_a_readable_429(app: FastAPI) -> None:
    await make_user(app, "dan", level="staff", profession="doctor")
    async with browser(app, client_ip="10.9.9.9") as http:
        statuses = [(await sign_in(http, "dan", "wrong")).status_code for _ in range(5)]
        assert statuses == [400] * 5
        limited = await sign_in(http, "dan", "wrong")
        assert limited.status_code == 429
        assert "Too many attempts. Wait" in limited.text
        assert 'value="dan"' in limited.text
        assert_page_headers(limited)


async def test_sign_out_ends_the_session(app: FastAPI) -> None:
    await make_user(app, "eve", level="staff", profession="doctor")
    async with browser(app) as http:
        await sign_in(http, "eve")
        access = http.cookies["access_token"]
        home = await http.get("/")
        out = await http.post("/sign-out", data={"csrf_token": form_token(home)})
        assert out.status_code == 303
        assert out.headers["location"] == "/sign-in?done=signed-out"
        assert "access_token" not in http.cookies
        signed_out = await http.get(out.headers["location"])
        assert "You have signed out." in signed_out.text
        # The old cookie no longer opens anything.
        http.cookies.set("access_token", access)
        assert (await http.get("/")).headers["location"] == "/sign-in"
    assert "auth.logout" in await audit_actions(app)
