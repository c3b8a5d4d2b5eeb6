"""My account: change password, two-factor with a QR code, my sessions."""

from __future__ import annotations

import re

import pyotp
from fastapi import FastAPI

from quill.clock import ManualClock
from tests.auth.support import audit_actions
from tests.helpers import make_user
from tests.webapp.support import assert_page_headers, browser, form_token, sign_in, signed_in

NEW_PASSWORD = "a brand new passphrase"


async def test_change_password_checks_and_ends_other_sessions(app: FastAPI) -> None:
    await make_user(app, "gus", level="staff", profession="doctor")
    async with signed_in(app, "gus") as http, signed_in(app, "gus") as other:
        token = form_token(await http.get("/account"))
        wrong = await http.post("/account/password", data={
            "csrf_token": token, "current_password": "nope", "new_password": NEW_PASSWORD,
            "confirm_password": NEW_PASSWORD})
        assert wrong.status_code == 400
        assert "Current password is incorrect" in wrong.text
        assert_page_headers(wrong)
        mismatch = await http.post("/account/password", data={
            "csrf_token": token, "current_password": "correct horse battery staple",
            "new_password": NEW_PASSWORD, "confirm_password": "different"})
        assert mismatch.status_code == 400
        assert "The two new passwords are not the same" in mismatch.text
        done = await http.post("/account/password", data={
            "csrf_token": token, "current_password": "correct horse battery staple",
            "new_password": NEW_PASSWORD, "confirm_password": NEW_PASSWORD})
        assert done.status_code == 303
        assert done.headers["location"] == "/account?done=password-changed"
        assert (await http.get("/account")).status_code == 200
        assert (await other.get("/account")).status_code == 303
    async with browser(app) as fresh:
        assert (await sign_in(fresh, "gus", NEW_PASSWORD)).status_code == 303
    assert "auth.password_changed" in await audit_actions(app)


async def test_two_factor_set_up_with_a_qr_code_and_turned_off(app: FastAPI,
                                                              clock: ManualClock) -> None:
    await make_user(app, "hal", level="staff", profession="doctor")
    async with signed_in(app, "hal") as http:
        account = await http.get("/account")
        assert "Set up two-factor" in account.text
        token = form_token(account)
        setup = await http.post("/account/two-factor", data={"csrf_token": token})
        assert setup.status_code == 200
        assert_page_headers(setup)
        assert '<svg width="' in setup.text
        key = re.search(r'<code class="key">([A-Z2-7 ]+)</code>', setup.text)
        assert key is not None
        secret = key.group(1).replace(" ", "")
        # Showing the page again keeps the same secret.
        again = await http.post("/account/two-factor", data={"csrf_token": token})
        assert key.group(0) in again.text
        wrong = await http.post("/account/two-factor/confirm",
                                data={"csrf_token": token, "code": "000000"})
        assert wrong.status_code == 400
        assert "Invalid two-factor code" in wrong.text
        assert '<svg width="' in wrong.text
        code = pyotp.TOTP(secret).at(clock.now())
        on = await http.post("/account/two-factor/confirm",
                             data={"csrf_token": token, "code": code})
        assert on.status_code == 303
        shown = await http.get(on.headers["location"])
        assert "Two-factor authentication is on." in shown.text
        assert "Turn off two-factor" in shown.text
        # Once on, the secret is never shown again.
        hidden = await http.post("/account/two-factor", data={"csrf_token": token})
        assert hidden.status_code == 303
        refused = await http.post("/account/two-factor/disable",
                                  data={"csrf_token": token, "password": "wrong"})
        assert refused.status_code == 400
        assert "Current password is incorrect" in refused.text
        off = await http.post("/account/two-factor/disable", data={
            "csrf_token": token, "password": "correct horse battery staple"})
        assert off.status_code == 303
        assert "Set up two-factor" in (await http.get("/account")).text
    actions = await audit_actions(app)
    for action in ("auth.totp_setup", "auth.totp_enabled", "auth.totp_disabled"):
        assert action in actions


async def test_my_sessions_are_listed_and_any_can_be_ended(app: FastAPI) -> None:
    await make_user(app, "ida", level="staff", profession="doctor")
    await make_user(app, "jon", level="staff", profession="doctor")
    async with signed_in(app, "ida") as http, signed_in(app, "ida") as phone, \
            signed_in(app, "jon") as stranger:
        account = await http.get("/account")
        ids = re.findall(r'action="/account/sessions/([^/"]+)/end"', account.text)
        assert len(ids) == 2
        assert "This browser" in account.text
        token = form_token(account)
        jon_page = await stranger.get("/account")
        jon_id = re.findall(r'action="/account/sessions/([^/"]+)/end"', jon_page.text)[0]
        # Someone else's session looks like no session at all.
        foreign = await http.post(f"/account/sessions/{jon_id}/end",
                                  data={"csrf_token": token})
        assert foreign.status_code == 404
        assert (await stranger.get("/account")).status_code == 200
        current = http.cookies["access_token"]
        listed = (await http.get("/api/auth/sessions")).json()["sessions"]
        assert sorted(ids) == sorted(row["id"] for row in listed)
        other_id = next(row["id"] for row in listed if not row["current"])
        ended = await http.post(f"/account/sessions/{other_id}/end",
                                data={"csrf_token": token})
        assert ended.status_code == 303
        assert ended.headers["location"] == "/account?done=session-ended"
        assert (await phone.get("/account")).status_code == 303
        remaining = await http.get("/account")
        assert other_id not in remaining.text
        mine = re.findall(r'action="/account/sessions/([^/"]+)/end"', remaining.text)[0]
        out = await http.post(f"/account/sessions/{mine}/end", data={"csrf_token": token})
        assert out.headers["location"] == "/sign-in?done=signed-out"
        http.cookies.set("access_token", current)
        assert (await http.get("/account")).status_code == 303
