"""Deactivating and reactivating accounts through PATCH /api/users/{id}."""

from __future__ import annotations

import httpx
from fastapi import FastAPI

from quill.app import create_app
from quill.clock import ManualClock
from quill.settings import Settings
from tests.audit_rows import audit_actions
from tests.auth.support import answered_within
from tests.helpers import DEFAULT_PASSWORD, logged_in


async def test_deactivation_ends_the_account_on_every_worker(
    app: FastAPI, client: httpx.AsyncClient, settings: Settings, clock: ManualClock,
) -> None:
    admin = await logged_in(app, "admin", level="admin")
    nurse = await logged_in(app, "nurse", level="staff", profession="registered_nurse")
    # A second worker: same database, same data directory.
    other = create_app(settings, clock=clock)
    async with other.router.lifespan_context(other), httpx.AsyncClient(
            transport=httpx.ASGITransport(app=other), base_url="http://other") as worker:
        # The nurse's caller is now cached on the other worker.
        assert (await worker.get("/api/auth/me", headers=nurse.headers)).status_code == 200
        off = await client.patch(f"/api/users/{nurse.user_id}", json={"is_active": False},
                                 headers=admin.headers)
        assert off.status_code == 200, off.text
        assert off.json()["is_active"] is False
        # At once on SQLite (one host's file); within the bound through LISTEN/NOTIFY.
        assert await answered_within(
            lambda: worker.get("/api/auth/me", headers=nurse.headers), 401)
    assert (await client.get("/api/auth/me", headers=nurse.headers)).status_code == 401
    shown = await client.get(f"/api/users/{nurse.user_id}", headers=admin.headers)
    assert shown.json()["is_active"] is False
    listed = await client.get("/api/users", headers=admin.headers)
    assert {u["username"]: u["is_active"] for u in listed.json()["users"]} == {
        "admin": True, "nurse": False}
    refused = await client.post("/api/auth/login",
                                json={"username": "nurse", "password": DEFAULT_PASSWORD})
    assert refused.status_code == 400

    on = await client.patch(f"/api/users/{nurse.user_id}", json={"is_active": True},
                            headers=admin.headers)
    assert on.json()["is_active"] is True
    # Reactivation does not revive the ended sessions; signing in again works.
    assert (await client.get("/api/auth/me", headers=nurse.headers)).status_code == 401
    again = await client.post("/api/auth/login",
                              json={"username": "nurse", "password": DEFAULT_PASSWORD})
    assert again.status_code == 200
    actions = [(action, actor) for action, _, actor in await audit_actions(app)]
    assert ("user.deactivate", admin.user_id) in actions
    assert ("user.reactivate", admin.user_id) in actions


async def test_deactivation_follows_the_level_rules(app: FastAPI, client: httpx.AsyncClient
                                                    ) -> None:
    admin = await logged_in(app, "admin", level="admin")
    peer = await logged_in(app, "peer", level="admin")
    superadmin = await logged_in(app, "root", level="superadmin")
    nurse = await logged_in(app, "nurse", level="staff")
    itself = await client.patch(f"/api/users/{admin.user_id}", json={"is_active": False},
                                headers=admin.headers)
    assert itself.status_code == 403
    other_admin = await client.patch(f"/api/users/{peer.user_id}", json={"is_active": False},
                                     headers=admin.headers)
    assert other_admin.status_code == 403
    staff = await client.patch(f"/api/users/{superadmin.user_id}", json={"is_active": False},
                               headers=nurse.headers)
    assert staff.status_code == 403
    by_superadmin = await client.patch(f"/api/users/{peer.user_id}",
                                       json={"is_active": False}, headers=superadmin.headers)
    assert by_superadmin.status_code == 200
    assert (await client.get("/api/auth/me", headers=peer.headers)).status_code == 401
    assert (await client.get("/api/auth/me", headers=admin.headers)).status_code == 200
