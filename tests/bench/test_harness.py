"""Smoke tests for the benchmark harness (no timing here: the bench itself reports)."""

from __future__ import annotations

from dataclasses import asdict, replace

import httpx
from bench.data import BENCH_PASSWORD, Scale, counts, create_world, load
from bench.load import Job, Req, Result, lua_script
from bench.pydriver import Plan
from bench.report import Report, Row, render_table, table, targets
from bench.scenarios import SCENARIOS, THREAD_PAGE
from fastapi import FastAPI

from bench import run  # noqa: F401 - the harness and everything it imports must load
from tests.helpers import runtime_of


async def test_generator_writes_the_requested_counts(app: FastAPI) -> None:
    runtime = runtime_of(app)
    world = await create_world(runtime.session_factory, runtime.settings)
    await load(runtime.engine, world, Scale("tiny", patients=30, messages=50))
    assert await counts(runtime.engine) == {
        # 30 Patients and the root Communication of each of the 5 threads; the busy
        # clinician's 200 threads of 20 messages come on top.
        "fhir_resources": 35, "organisation_patients": 30, "conversations": 5 + 200,
        "conversation_participants": 10 + 400, "messages": 50 + 4000,
    }


async def test_the_busy_clinician_lists_200_threads(app: FastAPI, client: httpx.AsyncClient
                                                    ) -> None:
    runtime = runtime_of(app)
    world = await create_world(runtime.session_factory, runtime.settings)
    await load(runtime.engine, world, Scale("tiny", patients=30, messages=50))
    login = await client.post("/api/auth/login", json={
        "username": world.busy_username, "password": BENCH_PASSWORD})
    headers = {"Authorization": f"Bearer {login.cookies['access_token']}"}
    listed = await client.get("/api/conversations?limit=200", headers=headers)
    assert listed.status_code == 200
    threads = listed.json()["conversations"]
    assert len(threads) == 200
    assert listed.json()["next_cursor"] is None
    # Read up to message 10 of 0..19; of the later ones, the other clinician sent 12, 14,
    # 16 and 18.
    assert {t["unread_count"] for t in threads} == {4}


async def test_generated_threads_take_replies(app: FastAPI, client: httpx.AsyncClient) -> None:
    """The bench posts into generated threads: their FHIR roots must exist for a reply's
    partOf reference to resolve."""
    runtime = runtime_of(app)
    world = await create_world(runtime.session_factory, runtime.settings)
    await load(runtime.engine, world, Scale("tiny", patients=30, messages=50))
    # Clinician 1 started thread 1 (the tiny world is too small for the bench user).
    login = await client.post("/api/auth/login", json={
        "username": world.usernames[1], "password": BENCH_PASSWORD})
    assert login.status_code == 200
    headers = {"Authorization": f"Bearer {login.cookies['access_token']}"}
    mine = await client.get("/api/conversations", headers=headers)
    thread = mine.json()["conversations"][0]["id"]
    reply = await client.post(f"/api/conversations/{thread}/messages", headers=headers,
                              json={"body": "Reply from the bench smoke test."})
    assert reply.status_code == 200, reply.text


def test_lua_script_carries_every_request_and_the_bearer() -> None:
    job = Job(base_url="http://127.0.0.1:9", headers={"Authorization": "Bearer abc"},
              requests=(Req("GET", "/api/auth/me"), Req("POST", "/x/{conv}", '{"a": 1}', 3)),
              connections=2, seconds=1, conversations=100, patients=10)
    script = lua_script(job)
    assert '"/api/auth/me"' in script
    assert '"{\\"a\\": 1}"' in script
    assert 'wrk.headers["Authorization"] = "Bearer abc"' in script


def test_think_time_paces_each_connection_in_both_drivers() -> None:
    job = Job(base_url="http://127.0.0.1:9", headers={}, requests=(Req("GET", "/x"),),
              connections=10, seconds=1, think_ms=50)
    assert "function delay() return 50 end" in lua_script(job)
    assert "function delay()" not in lua_script(replace(job, think_ms=0))
    assert Plan(asdict(job)).think_seconds == 0.05
    assert Plan(asdict(replace(job, think_ms=0))).think_seconds == 0


def test_skipped_routes_are_reported_and_targets_skip() -> None:
    report = Report("quick", "wrk")
    report.rows = [Row("sqlite", 1, scale, "patients_list", skipped="route not available")
                   for scale in ("small", "large")]
    rendered = render_table(table(report))
    assert "skipped: route not available" in rendered
    verdicts = {t.name: t.verdict for t in targets(report)}
    assert verdicts["patients_list p50 large/small <= 1.5"] == "SKIP"
    assert {s.name for s in SCENARIOS} >= {"auth_me", "conversations_list", "fhir_search"}


def test_profile_frames_never_carry_a_command_line() -> None:
    from bench.profile import summarise

    collapsed = ('process 12:"/some/dir/.venv/bin/python -m bench.serve" 7\n'
                 'process 12:"/some/dir/.venv/bin/python -m bench.serve";'
                 'handle (/some/dir/src/quill/app.py:10) 3\n')
    total, inclusive, own = summarise(collapsed)
    assert total == 10
    assert own["(process: no Python frame)"] == 7
    assert all("/some/dir" not in frame for frame in inclusive)


def test_pages_are_held_to_their_json_counterparts() -> None:
    report = Report("quick", "wrk")
    for scale, page_ms in (("small", 3.0), ("large", 4.0)):
        report.rows += [Row("sqlite", 1, scale, "conversation_detail", Result(100, 1, 2.0, 4)),
                        Row("sqlite", 1, scale, "thread_page", Result(100, 1, page_ms, 6))]
    report.rows.append(Row("sqlite", 1, "small", "patients_page", skipped="route not available"))
    verdicts = {t.name: (t.verdict, t.why) for t in targets(report)}
    verdict, why = verdicts["thread_page p50 <= 1.5x conversation_detail"]
    assert verdict == "FAIL"  # 1.5x at the small scale, 2x at the large one
    assert why.startswith("small 1.50x")
    assert "large 2.00x" in why
    assert verdicts["patients_page p50 <= 1.5x patients_list_25"] == (
        "SKIP", "route not available")


async def test_the_thread_page_answers_the_bench_clinicians_bearer(
        app: FastAPI, client: httpx.AsyncClient) -> None:
    """The page scenarios send the bench's bearer token, as the JSON ones do."""
    runtime = runtime_of(app)
    world = await create_world(runtime.session_factory, runtime.settings)
    await load(runtime.engine, world, Scale("tiny", patients=30, messages=50))
    login = await client.post("/api/auth/login", json={
        "username": world.usernames[1], "password": BENCH_PASSWORD})
    headers = {"Authorization": f"Bearer {login.cookies['access_token']}"}
    thread = (await client.get("/api/conversations", headers=headers)).json()[
        "conversations"][0]["id"]
    page = await client.get(THREAD_PAGE.path.replace("{conv}", str(thread)), headers=headers)
    assert page.status_code == 200
    assert page.headers["content-type"].startswith("text/html")
    assert {s.name for s in SCENARIOS} >= {"thread_page", "patients_page", "patients_list_25"}
