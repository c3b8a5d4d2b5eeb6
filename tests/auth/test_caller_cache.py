"""The caller cache: a hit costs no SQL, and nothing it remembers outlives a change."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta
from pathlib import Path

import httpx
from fastapi import FastAPI
from sqlalchemy import update

from quill.auth.caller_cache import CachedCaller, CallerCache, SharedGeneration
from quill.clock import ManualClock
from quill.identity.caller import UserIdentity
from quill.identity.models import User
from tests.auth.conftest import AppFactory
from tests.auth.support import answered_within, csrf, login, new_client
from tests.helpers import DEFAULT_PASSWORD, bearer_headers, logged_in, make_user, runtime_of
from tests.push.pushservice import Browser
from tests.statements import count_statements

NOW = datetime(2026, 1, 1, tzinfo=UTC)
IDENTITY = UserIdentity(id=1, username="u", full_name="U", email="u@example.org",
                        system_permissions="staff", base_profession="consultant",
                        additional_competencies=(), removed_competencies=(),
                        totp_enabled=False, fhir_patient_id=None)


def _entry(cache: CallerCache, *, token_minutes: int = 15, session_days: int = 7
           ) -> CachedCaller:
    return CachedCaller(IDENTITY, "s1", NOW + timedelta(days=session_days),
                        NOW + timedelta(minutes=token_minutes), ("letters",), cache.mark(), NOW)


def test_generation_is_shared_through_the_file(tmp_path: Path) -> None:
    one, two = SharedGeneration(tmp_path / "gen"), SharedGeneration(tmp_path / "gen")
    before = two.current()
    one.advance()
    assert two.current() == one.current() != before
    one.close()
    two.close()


def test_entries_expire_with_token_session_and_age(tmp_path: Path) -> None:
    cache = CallerCache(SharedGeneration(tmp_path / "gen"), ttl_seconds=30)
    cache.put("t", _entry(cache))
    assert cache.get("t", NOW + timedelta(seconds=29)) is not None
    assert cache.get("t", NOW + timedelta(seconds=30)) is None  # older than the ceiling
    cache.put("short", _entry(cache, token_minutes=0))
    assert cache.get("short", NOW) is None  # the token itself has expired
    cache.put("ended", _entry(cache, session_days=0))
    assert cache.get("ended", NOW) is None  # the session has expired


def test_a_change_during_the_read_keeps_the_entry_out(tmp_path: Path) -> None:
    cache = CallerCache(SharedGeneration(tmp_path / "gen"), ttl_seconds=30)
    entry = _entry(cache)  # generation taken before "reading the database"
    cache.changed()  # a commit lands meanwhile
    cache.put("t", entry)
    assert cache.get("t", NOW) is None
    assert len(cache) == 0


def test_another_process_change_drops_every_entry(tmp_path: Path) -> None:
    cache = CallerCache(SharedGeneration(tmp_path / "gen"), ttl_seconds=30)
    cache.put("t", _entry(cache))
    SharedGeneration(tmp_path / "gen").advance()  # as another worker's commit would
    assert cache.get("t", NOW) is None


def test_size_is_bounded_and_zero_seconds_disables(tmp_path: Path) -> None:
    cache = CallerCache(SharedGeneration(tmp_path / "gen"), ttl_seconds=30, max_entries=2)
    for token in ("a", "b", "c"):
        cache.put(token, _entry(cache))
    assert len(cache) == 2
    assert cache.get("a", NOW) is None
    assert cache.get("c", NOW) is not None
    off = CallerCache.for_data_dir(tmp_path, ttl_seconds=0)
    off.put("a", _entry(off))
    assert not off.enabled
    assert off.get("a", NOW) is None


async def test_a_cached_caller_costs_no_statement(app: FastAPI, client: httpx.AsyncClient
                                                  ) -> None:
    caller = await logged_in(app, "cached", level="staff", profession="consultant")
    first = await client.get("/api/auth/me", headers=caller.headers)
    assert first.status_code == 200
    with count_statements(runtime_of(app).engine) as statements:
        again = await client.get("/api/auth/me", headers=caller.headers)
    assert again.json() == first.json()
    assert statements == []


async def test_logout_and_revocation_apply_at_once(app: FastAPI) -> None:
    await make_user(app, "leaver")
    async with new_client(app) as phone, new_client(app) as laptop:
        assert (await login(phone, "leaver")).status_code == 200
        assert (await login(laptop, "leaver")).status_code == 200
        assert (await phone.get("/api/auth/me")).status_code == 200
        assert (await laptop.get("/api/auth/me")).status_code == 200
        sessions = (await laptop.get("/api/auth/sessions")).json()["sessions"]
        phone_session = next(s["id"] for s in sessions if not s["current"])
        revoked = await laptop.delete(f"/api/auth/sessions/{phone_session}",
                                      headers=csrf(laptop))
        assert revoked.status_code == 200
        assert (await phone.get("/api/auth/me")).status_code == 401
        token = laptop.cookies.get("access_token")
        assert (await laptop.post("/api/auth/logout", headers=csrf(laptop))).status_code == 200
        bearer = {"Authorization": f"Bearer {token}"}
        assert (await laptop.get("/api/auth/me", headers=bearer)).status_code == 401


async def test_every_worker_sees_a_logout_within_the_bound(app_factory: AppFactory) -> None:
    # One data dir: the file generation on SQLite, LISTEN/NOTIFY on PostgreSQL.
    first, second = await app_factory(), await app_factory()
    user = await make_user(first, "roamer")
    headers = await bearer_headers(first, user)
    async with new_client(first) as one, new_client(second) as two:
        assert (await two.get("/api/auth/me", headers=headers)).status_code == 200
        assert len(runtime_of(second).callers) == 1
        assert (await one.post("/api/auth/logout", headers=headers)).status_code == 200
        assert await answered_within(lambda: two.get("/api/auth/me", headers=headers), 401)


async def test_password_change_signs_out_other_cached_sessions(app: FastAPI) -> None:
    await make_user(app, "changer")
    async with new_client(app) as old, new_client(app) as current:
        assert (await login(old, "changer")).status_code == 200
        assert (await login(current, "changer")).status_code == 200
        assert (await old.get("/api/auth/me")).status_code == 200
        changed = await current.post(
            "/api/auth/change-password", headers=csrf(current),
            json={"current_password": DEFAULT_PASSWORD, "new_password": "a brand new phrase 42"})
        assert changed.status_code == 200
        assert (await old.get("/api/auth/me")).status_code == 401
        assert (await current.get("/api/auth/me")).status_code == 200


async def test_admin_changes_show_on_the_next_request(app: FastAPI, client: httpx.AsyncClient
                                                      ) -> None:
    admin = await logged_in(app, "root", level="superadmin", profession="system_administrator")
    nurse = await logged_in(app, "nurse", level="staff", profession="registered_nurse")
    before = (await client.get("/api/auth/me", headers=nurse.headers)).json()
    renamed = await client.patch(f"/api/users/{nurse.user_id}", headers=admin.headers,
                                 json={"name": "Nurse Renamed"})
    assert renamed.status_code == 200
    organisation = await client.post("/api/organizations", headers=admin.headers,
                                     json={"name": "Ward 9", "type": "hospital_team"})
    assert organisation.status_code == 200
    org_id = organisation.json()["id"]
    joined = await client.post(f"/api/organizations/{org_id}/staff", headers=admin.headers,
                               json={"user_id": nurse.user_id, "is_primary": True})
    assert joined.status_code == 200
    feature = await client.put(f"/api/organizations/{org_id}/features/letters",
                               headers=admin.headers, json={"enabled": True})
    assert feature.status_code == 200
    after = (await client.get("/api/auth/me", headers=nurse.headers)).json()
    assert before["name"] != after["name"] == "Nurse Renamed"
    assert "letters" not in before["enabled_features"]
    assert "letters" in after["enabled_features"]


async def test_changes_behind_quills_back_apply_after_the_ceiling(
    app: FastAPI, client: httpx.AsyncClient, clock: ManualClock
) -> None:
    caller = await logged_in(app, "quiet", level="staff", profession="consultant")
    assert (await client.get("/api/auth/me", headers=caller.headers)).status_code == 200
    # An operator's SQL through another engine: no Quill session sees it commit.
    engine = runtime_of(app).engine
    async with engine.begin() as connection:
        await connection.execute(update(User).where(User.id == caller.user_id)
                                 .values(is_active=False))
    assert (await client.get("/api/auth/me", headers=caller.headers)).status_code == 200
    clock.advance(seconds=runtime_of(app).settings.caller_cache_seconds)
    assert (await client.get("/api/auth/me", headers=caller.headers)).status_code == 401


async def test_unrelated_commits_keep_the_cache(app: FastAPI, client: httpx.AsyncClient
                                                ) -> None:
    caller = await logged_in(app, "poster", level="staff", profession="consultant")
    assert (await client.get("/api/auth/me", headers=caller.headers)).status_code == 200
    subscribed = await client.post("/api/push/subscribe", headers=caller.headers,
                                   json=Browser().subscription("http://127.0.0.1:9/push/1"))
    assert subscribed.status_code == 200
    assert len(runtime_of(app).callers) == 1
    with count_statements(runtime_of(app).engine) as statements:
        assert (await client.get("/api/auth/me", headers=caller.headers)).status_code == 200
    assert statements == []


def test_an_unwritable_data_dir_runs_uncached(tmp_path: Path) -> None:
    blocked = tmp_path / "not-a-dir"
    blocked.write_text("a file where the data directory should be")
    cache = CallerCache.for_data_dir(blocked, ttl_seconds=30)
    assert not cache.enabled
    cache.put("t", _entry(cache))
    assert cache.get("t", NOW) is None
