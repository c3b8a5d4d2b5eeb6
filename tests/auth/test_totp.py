"""TOTP setup, verify and disable."""

from __future__ import annotations

from urllib.parse import parse_qs, unquote, urlsplit

import pyotp
from fastapi import FastAPI

from quill.clock import ManualClock
from tests.auth.support import audit_actions, csrf, login, new_client
from tests.helpers import DEFAULT_PASSWORD, make_user

INVALID = {"detail": {"message": "Invalid two-factor code", "error_code": "invalid_totp"}}


async def test_setup_verify_login_disable(app: FastAPI, clock: ManualClock) -> None:
    await make_user(app, "sam", email="sam@example.org")
    async with new_client(app) as http:
        await login(http, "sam")
        early = await http.post("/api/auth/totp/verify", headers=csrf(http),
                                json={"code": "123456"})
        assert early.status_code == 400
        assert early.json()["detail"]["error_code"] == "no_totp_secret"
        assert set(early.json()["detail"]) == {"message", "error_code"}

        setup = await http.post("/api/auth/totp/setup", headers=csrf(http))
        assert setup.status_code == 200
        uri = setup.json()["provision_uri"]
        parts = urlsplit(uri)
        assert parts.scheme == "otpauth"
        assert parts.netloc == "totp"
        assert unquote(parts.path).startswith("/Quill Medical:")
        query = parse_qs(parts.query)
        assert query["issuer"] == ["Quill Medical"]
        secret = query["secret"][0]
        again = await http.post("/api/auth/totp/setup", headers=csrf(http))
        assert parse_qs(urlsplit(again.json()["provision_uri"]).query)["secret"] == [secret]

        bad = await http.post("/api/auth/totp/verify", headers=csrf(http),
                              json={"code": "abcdef"})
        assert bad.status_code == 400
        assert bad.json() == INVALID
        code = pyotp.TOTP(secret).at(clock.now())
        ok = await http.post("/api/auth/totp/verify", headers=csrf(http), json={"code": code})
        assert ok.status_code == 200
        assert ok.json() == {"detail": "enabled"}
        assert (await http.get("/api/auth/me")).json()["totp_enabled"] is True
        # The step just used to enable cannot be replayed to log in.
        async with new_client(app) as other:
            replay = await login(other, "sam", totp_code=code)
            assert replay.status_code == 400
            assert replay.json() == INVALID
            clock.advance(seconds=30)
            fresh = await login(other, "sam", totp_code=pyotp.TOTP(secret).at(clock.now()))
            assert fresh.status_code == 200
        # Once enabled, the secret is not handed out again.
        hidden = await http.post("/api/auth/totp/setup", headers=csrf(http))
        assert hidden.status_code == 400
        assert hidden.json()["detail"]["error_code"] == "totp_already_enabled"

        wrong = await http.post("/api/auth/totp/disable", headers=csrf(http),
                                json={"password": "not it"})
        assert wrong.status_code == 400
        assert wrong.json() == {"detail": "Current password is incorrect"}
        off = await http.post("/api/auth/totp/disable", headers=csrf(http),
                              json={"password": DEFAULT_PASSWORD})
        assert off.status_code == 200
        assert off.json() == {"detail": "disabled"}
        assert (await http.get("/api/auth/me")).json()["totp_enabled"] is False
    async with new_client(app) as plain:
        assert (await login(plain, "sam")).status_code == 200
    actions = await audit_actions(app)
    for action in ("auth.totp_setup", "auth.totp_enabled", "auth.totp_disabled"):
        assert action in actions


async def test_totp_routes_need_csrf_with_cookies(app: FastAPI) -> None:
    await make_user(app, "tess")
    async with new_client(app) as http:
        await login(http, "tess")
        response = await http.post("/api/auth/totp/setup")
        assert response.status_code == 403
        assert response.json() == {"detail": "CSRF failed"}
