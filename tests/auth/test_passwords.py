"""Forgot, reset and change password; the password rules."""

from __future__ import annotations

import re

import httpx
import pytest
from fastapi import FastAPI
from sqlalchemy import select

from quill.auth.models import PasswordResetToken
from quill.auth.password_policy import check_new_password, common_passwords
from quill.clock import ManualClock
from quill.email.models import OutboxEmail
from quill.errors import Invalid
from tests.auth.support import audit_actions, csrf, login, new_client
from tests.helpers import DEFAULT_PASSWORD, make_user, runtime_of

NEW_PASSWORD = "a brand new passphrase"


async def _outbox(app: FastAPI) -> list[OutboxEmail]:
    runtime = runtime_of(app)
    async with runtime.session_factory() as db:
        return list((await db.execute(select(OutboxEmail).order_by(OutboxEmail.id)))
                    .scalars().all())


async def _request_token(app: FastAPI, email: str) -> str:
    async with new_client(app) as http:
        response = await http.post("/api/auth/forgot-password", json={"email": email})
    assert response.status_code == 200
    assert response.json() == {"detail": "ok"}
    mail = (await _outbox(app))[-1]
    match = re.search(r"token=([A-Za-z0-9_\-]+)", mail.body)
    assert match is not None
    return match.group(1)


def test_common_list_is_a_few_thousand_long_enough_entries() -> None:
    long_enough = [p for p in common_passwords() if len(p) >= 8]
    assert len(long_enough) > 2000
    with pytest.raises(Invalid, match="too common"):
        check_new_password("Password1")
    with pytest.raises(Invalid, match="too short"):
        check_new_password("Xy7!q")
    check_new_password("violet tugboat orbit")


async def test_forgot_password_answers_the_same_for_unknown_email(
    app: FastAPI, client: httpx.AsyncClient, caplog: pytest.LogCaptureFixture
) -> None:
    await make_user(app, "nina", email="nina@example.org")
    caplog.set_level("INFO", logger="quill.email")
    known = await client.post("/api/auth/forgot-password", json={"email": "NINA@example.org"})
    unknown = await client.post("/api/auth/forgot-password", json={"email": "who@example.org"})
    assert known.status_code == unknown.status_code == 200
    assert known.json() == unknown.json() == {"detail": "ok"}
    mails = await _outbox(app)
    assert [m.recipient for m in mails] == ["nina@example.org"]
    token = re.search(r"token=([A-Za-z0-9_\-]+)", mails[0].body)
    assert token is not None
    # The outbox log line names the mail but never carries the token.
    assert any("outbox" in r.getMessage() for r in caplog.records)
    assert all(token.group(1) not in (r.getMessage() + str(r.__dict__)) for r in caplog.records)
    runtime = runtime_of(app)
    async with runtime.session_factory() as db:
        stored = (await db.execute(select(PasswordResetToken.token_hash))).scalar_one()
    assert stored != token.group(1)
    assert len(stored) == 64


async def test_reset_password_once_and_revokes_sessions(app: FastAPI) -> None:
    await make_user(app, "oscar", email="oscar@example.org")
    async with new_client(app) as old_device:
        await login(old_device, "oscar")
        token = await _request_token(app, "oscar@example.org")
        async with new_client(app) as http:
            done = await http.post("/api/auth/reset-password",
                                   json={"token": token, "new_password": NEW_PASSWORD})
            assert done.status_code == 200
            assert done.json() == {"detail": "Password reset successfully"}
            reuse = await http.post("/api/auth/reset-password",
                                    json={"token": token, "new_password": "another passphrase"})
            assert reuse.status_code == 400
            assert reuse.json() == {"detail": "Invalid or expired reset link"}
            assert (await login(http, "oscar")).status_code == 400
            assert (await login(http, "oscar", NEW_PASSWORD)).status_code == 200
        assert (await old_device.get("/api/auth/me")).status_code == 401
    assert "auth.password_reset" in await audit_actions(app)


async def test_reset_link_expires_after_30_minutes(app: FastAPI, clock: ManualClock) -> None:
    await make_user(app, "pia", email="pia@example.org")
    token = await _request_token(app, "pia@example.org")
    clock.advance(minutes=31)
    async with new_client(app) as http:
        response = await http.post("/api/auth/reset-password",
                                   json={"token": token, "new_password": NEW_PASSWORD})
    assert response.status_code == 400
    assert response.json() == {"detail": "Invalid or expired reset link"}


async def test_reset_rejects_bad_token_and_short_password(app: FastAPI) -> None:
    await make_user(app, "quinn", email="quinn@example.org")
    token = await _request_token(app, "quinn@example.org")
    async with new_client(app) as http:
        bogus = await http.post("/api/auth/reset-password",
                                json={"token": "made-up", "new_password": NEW_PASSWORD})
        assert bogus.status_code == 400
        assert bogus.json() == {"detail": "Invalid or expired reset link"}
        short = await http.post("/api/auth/reset-password",
                                json={"token": token, "new_password": "short"})
        assert short.status_code == 400
        assert short.json() == {"detail": "Password too short"}
        # A rejected password does not spend the link.
        ok = await http.post("/api/auth/reset-password",
                             json={"token": token, "new_password": NEW_PASSWORD})
        assert ok.status_code == 200


async def test_forgot_and_reset_rate_limits(client: httpx.AsyncClient) -> None:
    forgot = [(await client.post("/api/auth/forgot-password",
                                 json={"email": "x@example.org"})).status_code
              for _ in range(4)]
    assert forgot == [200, 200, 200, 429]
    reset = [(await client.post("/api/auth/reset-password",
                                json={"token": "nope", "new_password": NEW_PASSWORD})).status_code
             for _ in range(6)]
    assert reset == [400, 400, 400, 400, 400, 429]


async def test_change_password_keeps_this_session_only(app: FastAPI) -> None:
    await make_user(app, "rita")
    async with new_client(app) as here, new_client(app) as elsewhere:
        await login(here, "rita")
        await login(elsewhere, "rita")
        wrong = await here.post("/api/auth/change-password", headers=csrf(here), json={
            "current_password": "not it", "new_password": NEW_PASSWORD})
        assert wrong.status_code == 400
        assert wrong.json() == {"detail": "Current password is incorrect"}
        short = await here.post("/api/auth/change-password", headers=csrf(here), json={
            "current_password": DEFAULT_PASSWORD, "new_password": "short"})
        assert short.json() == {"detail": "Password too short"}
        done = await here.post("/api/auth/change-password", headers=csrf(here), json={
            "current_password": DEFAULT_PASSWORD, "new_password": NEW_PASSWORD})
        assert done.status_code == 200
        assert done.json() == {"detail": "Password changed"}
        assert (await here.get("/api/auth/me")).status_code == 200
        assert (await elsewhere.get("/api/auth/me")).status_code == 401
        assert (await login(elsewhere, "rita", NEW_PASSWORD)).status_code == 200
    assert "auth.password_changed" in await audit_actions(app)
