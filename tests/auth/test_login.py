"""POST /auth/login: cookies, identical failures, TOTP, rehash, rate limits, client address."""

from __future__ import annotations

import httpx
import pyotp
from fastapi import FastAPI
from sqlalchemy import select

from quill.auth.models import AuthSession
from quill.auth.passwords import PasswordHasher
from quill.clock import ManualClock
from quill.identity.models import User
from tests.auth.support import audit_actions, login, new_client, update_user
from tests.helpers import DEFAULT_PASSWORD, make_user, runtime_of


def _set_cookie_headers(response: httpx.Response) -> dict[str, str]:
    found: dict[str, str] = {}
    for header in response.headers.get_list("set-cookie"):
        name = header.split("=", 1)[0]
        found[name] = header.lower()
    return found


async def test_login_sets_the_three_cookies(app: FastAPI, client: httpx.AsyncClient) -> None:
    await make_user(app, "alice", level="staff", profession="consultant")
    response = await login(client, "alice")
    assert response.status_code == 200
    assert response.json() == {"detail": "ok",
                               "user": {"username": "alice",
                                        "roles": ["Clinician", "Staff"]}}
    cookies = _set_cookie_headers(response)
    access, refresh, xsrf = cookies["access_token"], cookies["refresh_token"], cookies["XSRF-TOKEN"]
    assert "httponly" in access
    assert "path=/;" in access
    assert "samesite=lax" in access
    assert "max-age=900" in access
    assert "httponly" in refresh
    assert "path=/api/auth/refresh" in refresh
    assert "max-age=604800" in refresh
    assert "samesite=lax" in refresh
    assert "httponly" not in xsrf
    assert "path=/" in xsrf
    assert "samesite=lax" in xsrf
    assert all("secure" not in value for value in cookies.values())
    me = await client.get("/api/auth/me")
    assert me.status_code == 200
    assert "auth.login" in await audit_actions(app)


async def test_secure_flag_follows_the_setting(settings_secure_app: FastAPI) -> None:
    await make_user(settings_secure_app, "sec")
    async with new_client(settings_secure_app) as http:
        response = await login(http, "sec")
    assert response.status_code == 200
    assert all("; secure" in value for value in _set_cookie_headers(response).values())


async def test_username_is_case_insensitive(app: FastAPI, client: httpx.AsyncClient) -> None:
    await make_user(app, "Bob")
    assert (await login(client, "bob")).status_code == 200


async def test_same_error_for_unknown_user_wrong_password_and_inactive(
    app: FastAPI, client: httpx.AsyncClient
) -> None:
    await make_user(app, "carol")
    sleepy = await make_user(app, "sleepy")
    await update_user(app, sleepy.id, is_active=False)
    unknown = await login(client, "nobody-here")
    wrong = await login(client, "carol", "not the password")
    inactive = await login(client, "sleepy")
    for response in (unknown, wrong, inactive):
        assert response.status_code == 400
        assert response.json() == {"detail": "Invalid credentials"}
        assert "set-cookie" not in response.headers
    assert (await audit_actions(app)).count("auth.login_failed") == 3


async def test_unknown_user_still_spends_a_hash(app: FastAPI) -> None:
    """The dummy-hash path runs Argon2 even with no stored hash (no timing threshold)."""
    hasher: PasswordHasher = runtime_of(app).passwords
    assert await hasher.verify(None, DEFAULT_PASSWORD) is False


async def test_login_rehashes_when_parameters_change(
    app: FastAPI, client: httpx.AsyncClient
) -> None:
    old = PasswordHasher(memory_kib=512, time_cost=1, parallelism=1)
    user = await make_user(app, "dave")
    runtime = runtime_of(app)
    async with runtime.session_factory() as db, db.begin():
        row = await db.get(User, user.id)
        assert row is not None
        row.password_hash = await old.hash(DEFAULT_PASSWORD)
    assert (await login(client, "dave")).status_code == 200
    async with runtime.session_factory() as db:
        stored = (await db.execute(select(User.password_hash).where(User.id == user.id))).scalar()
    assert stored is not None
    assert not runtime.passwords.needs_rehash(stored)
    assert "m=512" not in stored


async def test_two_factor_required_invalid_and_replayed(
    app: FastAPI, client: httpx.AsyncClient, clock: ManualClock
) -> None:
    secret = pyotp.random_base32()
    erin = await make_user(app, "erin")
    await update_user(app, erin.id, totp_secret=secret, totp_enabled=True)
    missing = await login(client, "erin")
    assert missing.status_code == 400
    assert missing.json() == {"detail": {"message": "Two-factor required",
                                         "error_code": "two_factor_required"}}
    wrong = await login(client, "erin", totp_code="000000" if pyotp.TOTP(secret).at(
        clock.now()) != "000000" else "111111")
    assert wrong.status_code == 400
    invalid = {"detail": {"message": "Invalid two-factor code", "error_code": "invalid_totp"}}
    assert wrong.json() == invalid
    code = pyotp.TOTP(secret).at(clock.now())
    assert (await login(client, "erin", totp_code=code)).status_code == 200
    # The same code (same time step) a second time is a replay.
    replay = await login(client, "erin", totp_code=code)
    assert replay.status_code == 400
    assert replay.json() == invalid
    clock.advance(seconds=30)
    assert (await login(client, "erin",
                        totp_code=pyotp.TOTP(secret).at(clock.now()))).status_code == 200


async def test_login_rate_limited_per_client(app: FastAPI, client: httpx.AsyncClient) -> None:
    for attempt in range(5):
        response = await login(client, f"someone-{attempt}", "wrong password")
        assert response.status_code == 400
    limited = await login(client, "someone-else", "wrong password")
    assert limited.status_code == 429
    assert int(limited.headers["retry-after"]) >= 1
    assert limited.json()["detail"]


async def test_login_rate_limited_per_username_across_clients(app: FastAPI) -> None:
    await make_user(app, "frank")
    for index in range(5):
        async with new_client(app, f"10.0.0.{index + 1}") as http:
            assert (await login(http, "frank", "wrong password")).status_code == 400
    async with new_client(app, "10.0.0.99") as http:
        # Even the right password is refused once the username is over its limit.
        limited = await login(http, "FRANK")
    assert limited.status_code == 429
    assert "retry-after" in limited.headers


async def test_forwarded_for_from_untrusted_peer_is_ignored(
    app: FastAPI, client: httpx.AsyncClient
) -> None:
    for attempt in range(5):
        response = await client.post(
            "/api/auth/login", json={"username": f"u{attempt}", "password": "x" * 8},
            headers={"X-Forwarded-For": f"203.0.113.{attempt}"})
        assert response.status_code == 400
    spoofed = await client.post("/api/auth/login",
                                json={"username": "u9", "password": "x" * 8},
                                headers={"X-Forwarded-For": "198.51.100.7"})
    assert spoofed.status_code == 429


async def test_forwarded_for_from_trusted_proxy_is_believed(proxied_app: FastAPI) -> None:
    user = await make_user(proxied_app, "grace")
    async with new_client(proxied_app, "127.0.0.1") as http:
        for attempt in range(7):
            response = await http.post(
                "/api/auth/login", json={"username": f"p{attempt}", "password": "x" * 8},
                headers={"X-Forwarded-For": f"203.0.113.{attempt}, 10.1.2.3"})
            # Each request comes from a different client behind two trusted proxies.
            assert response.status_code == 400
        ok = await http.post("/api/auth/login",
                             json={"username": "grace", "password": DEFAULT_PASSWORD},
                             headers={"X-Forwarded-For": "198.51.100.20, 10.1.2.3"})
        assert ok.status_code == 200
    runtime = runtime_of(proxied_app)
    async with runtime.session_factory() as db:
        ip = (await db.execute(
            select(AuthSession.ip).where(AuthSession.user_id == user.id))).scalar()
    assert ip == "198.51.100.20"


async def test_login_body_is_validated(client: httpx.AsyncClient) -> None:
    response = await client.post("/api/auth/login",
                                 json={"username": "a", "password": "b", "extra": 1})
    assert response.status_code == 422
