"""Refresh rotation, logout, CSRF and the session list: the token holes stay closed."""

from __future__ import annotations

from collections.abc import AsyncIterator
from contextlib import asynccontextmanager

import httpx
from fastapi import FastAPI
from sqlalchemy import select

from quill.auth.models import AuthSession
from quill.auth.sessions import csrf_token_for
from quill.clock import ManualClock
from tests.auth.support import audit_actions, csrf, login, new_client
from tests.helpers import bearer_headers, cookie_client, make_user, runtime_of


@asynccontextmanager
async def signed_in(app: FastAPI, username: str = "alice") -> AsyncIterator[httpx.AsyncClient]:
    await make_user(app, username)
    async with new_client(app) as http:
        assert (await login(http, username)).status_code == 200
        yield http


async def test_refresh_rotates_tokens(app: FastAPI, clock: ManualClock) -> None:
    async with signed_in(app) as http:
        old_refresh = http.cookies.get("refresh_token")
        old_access = http.cookies.get("access_token")
        clock.advance(minutes=16)
        assert (await http.get("/api/auth/me")).status_code == 401
        response = await http.post("/api/auth/refresh")
        assert response.status_code == 200
        assert response.json() == {"detail": "refreshed"}
        assert http.cookies.get("refresh_token") != old_refresh
        assert http.cookies.get("access_token") != old_access
        assert (await http.get("/api/auth/me")).status_code == 200


async def test_refresh_without_cookie_is_401(client: httpx.AsyncClient) -> None:
    response = await client.post("/api/auth/refresh")
    assert response.status_code == 401
    assert response.json() == {"detail": "Not authenticated"}


async def test_spent_refresh_token_revokes_the_session(app: FastAPI) -> None:
    async with signed_in(app) as http:
        spent = http.cookies.get("refresh_token")
        assert spent is not None
        assert (await http.post("/api/auth/refresh")).status_code == 200
        # An attacker (or a stale tab) presents the old token again.
        async with new_client(app, cookies={"refresh_token": spent}) as thief:
            reuse = await thief.post("/api/auth/refresh")
        assert reuse.status_code == 401
        # The whole family is gone: the legitimate holder's new tokens stop working too.
        assert (await http.get("/api/auth/me")).status_code == 401
        assert (await http.post("/api/auth/refresh")).status_code == 401
    assert "auth.refresh_reuse" in await audit_actions(app)


async def test_refresh_token_is_not_an_access_token(app: FastAPI) -> None:
    async with signed_in(app) as http:
        refresh_token = http.cookies.get("refresh_token")
        as_bearer = await http.get("/api/auth/me",
                                   headers={"Authorization": f"Bearer {refresh_token}"})
        assert as_bearer.status_code == 401
        async with new_client(app, cookies={"access_token": refresh_token or ""}) as other:
            as_cookie = await other.get("/api/auth/me")
        assert as_cookie.status_code == 401


async def test_access_token_is_not_a_refresh_token(app: FastAPI) -> None:
    async with signed_in(app) as http:
        access = http.cookies.get("access_token") or ""
        async with new_client(app, cookies={"refresh_token": access}) as other:
            response = await other.post("/api/auth/refresh")
        assert response.status_code == 401


async def test_logout_revokes_access_at_once_and_clears_cookies(app: FastAPI) -> None:
    async with signed_in(app) as http:
        access = http.cookies.get("access_token") or ""
        refresh_token = http.cookies.get("refresh_token") or ""
        response = await http.post("/api/auth/logout", headers=csrf(http))
        assert response.status_code == 200
        assert response.json() == {"detail": "ok"}
        cleared = response.headers.get_list("set-cookie")
        assert {c.split("=", 1)[0] for c in cleared} == {"access_token", "refresh_token",
                                                         "XSRF-TOKEN"}
        assert all("max-age=0" in c.lower() for c in cleared)
    async with new_client(app, cookies={"refresh_token": refresh_token}) as replay:
        still = await replay.get("/api/auth/me", headers={"Authorization": f"Bearer {access}"})
        assert still.status_code == 401
        again = await replay.post("/api/auth/refresh")
        assert again.status_code == 401
    assert "auth.logout" in await audit_actions(app)


async def test_logout_with_bearer_needs_no_csrf(app: FastAPI, client: httpx.AsyncClient) -> None:
    user = await make_user(app, "bearer")
    headers = await bearer_headers(app, user)
    assert (await client.post("/api/auth/logout", headers=headers)).status_code == 200
    assert (await client.get("/api/auth/me", headers=headers)).status_code == 401


async def test_csrf_missing_wrong_or_from_another_session(app: FastAPI) -> None:
    user = await make_user(app, "henry")
    other = await make_user(app, "ivy")
    async with await cookie_client(app, user) as http, await cookie_client(app, other) as ivy:
        body = {"current_password": "x", "new_password": "y"}
        missing = await http.post("/api/auth/change-password", json=body)
        wrong = await http.post("/api/auth/change-password", json=body,
                                headers={"X-CSRF-Token": "0" * 64})
        # Ivy's valid value, planted in Henry's cookie and header, is bound to her session.
        stolen = ivy.cookies.get("XSRF-TOKEN") or ""
        http.cookies.set("XSRF-TOKEN", stolen)
        moved = await http.post("/api/auth/change-password", json=body,
                                headers={"X-CSRF-Token": stolen})
        for response in (missing, wrong, moved):
            assert response.status_code == 403
            assert response.json() == {"detail": "CSRF failed"}


async def test_csrf_value_is_bound_to_the_session(app: FastAPI) -> None:
    async with signed_in(app) as http:
        runtime = runtime_of(app)
        async with runtime.session_factory() as db:
            sid = (await db.execute(select(AuthSession.id))).scalar_one()
        assert http.cookies.get("XSRF-TOKEN") == csrf_token_for(runtime.secret_key, sid)


async def test_sessions_list_and_revoke_own(app: FastAPI) -> None:
    await make_user(app, "jack")
    async with new_client(app) as first, new_client(app) as second:
        await login(first, "jack")
        await second.post("/api/auth/login", json={"username": "jack",
                                                   "password": "correct horse battery staple"},
                          headers={"User-Agent": "second-device"})
        listed = await first.get("/api/auth/sessions")
        assert listed.status_code == 200
        sessions = listed.json()["sessions"]
        assert len(sessions) == 2
        assert set(sessions[0]) == {"id", "created_at", "last_used_at", "user_agent", "ip",
                                    "current"}
        assert sum(s["current"] for s in sessions) == 1
        target = next(s for s in sessions if not s["current"])
        assert target["user_agent"] == "second-device"
        assert target["ip"] == "127.0.0.1"
        revoked = await first.delete(f"/api/auth/sessions/{target['id']}", headers=csrf(first))
        assert revoked.status_code == 200
        assert revoked.json() == {"status": "revoked"}
        assert (await second.get("/api/auth/me")).status_code == 401
        assert len((await first.get("/api/auth/sessions")).json()["sessions"]) == 1
        gone = await first.delete(f"/api/auth/sessions/{target['id']}", headers=csrf(first))
        assert gone.status_code == 404
    assert "auth.session_revoked" in await audit_actions(app)


async def test_cannot_revoke_someone_elses_session(app: FastAPI) -> None:
    await make_user(app, "kim")
    await make_user(app, "lee")
    async with new_client(app) as kim, new_client(app) as lee:
        await login(kim, "kim")
        await login(lee, "lee")
        lee_session = (await lee.get("/api/auth/sessions")).json()["sessions"][0]["id"]
        response = await kim.delete(f"/api/auth/sessions/{lee_session}", headers=csrf(kim))
        assert response.status_code == 404
        assert response.json() == {"detail": "Session not found"}
        assert (await lee.get("/api/auth/me")).status_code == 200
        unknown = await kim.delete("/api/auth/sessions/" + "x" * 80, headers=csrf(kim))
        assert unknown.status_code == 404


async def test_protected_routes_need_a_caller(client: httpx.AsyncClient) -> None:
    for method, path in [("GET", "/api/auth/me"), ("GET", "/api/auth/sessions"),
                         ("POST", "/api/auth/logout"), ("POST", "/api/auth/totp/setup"),
                         ("DELETE", "/api/auth/sessions/abc")]:
        response = await client.request(method, path)
        assert response.status_code == 401, path


async def test_csrf_value_dies_with_its_session(app: FastAPI) -> None:
    async with signed_in(app, "uma") as http:
        old_value = http.cookies.get("XSRF-TOKEN") or ""
        assert (await http.post("/api/auth/logout", headers=csrf(http))).status_code == 200
        assert (await login(http, "uma")).status_code == 200
        assert http.cookies.get("XSRF-TOKEN") != old_value
        http.cookies.set("XSRF-TOKEN", old_value)
        response = await http.post("/api/auth/totp/setup", headers={"X-CSRF-Token": old_value})
        assert response.status_code == 403
        assert response.json() == {"detail": "CSRF failed"}
