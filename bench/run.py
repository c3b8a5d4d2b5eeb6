"""Quill benchmark: throughput, latency and scaling with data, in one run.

    python -m bench.run            # full: SQLite and PostgreSQL, 1 and 2 workers,
                                   # 1k/10k and 100k/1M patients/messages, FHIR store bench
    python -m bench.run --quick    # SQLite, 1 worker, 1k/10k and 10k/100k (under 3 minutes)
    python -m bench.run --quick --only patients_list,conversations_list --db postgres \
        --scale large              # a subset, to iterate on a change (A/B against bare)

The server (uvicorn, pinned to core 0) and the load generator (wrk or bench.pydriver,
pinned to core 1) run as separate processes on loopback only. Results print as a table and
go to bench/RESULTS.md (generated section only); server logs and profiles to bench/out/.
The bench reports PASS/FAIL per target; its exit code does not depend on them.
"""

from __future__ import annotations

import argparse
import asyncio
import json
import shutil
import subprocess
import sys
import tempfile
import time
from dataclasses import dataclass, replace
from pathlib import Path

from bench import harness, load, profile
from bench.data import BENCH_PASSWORD, Scale, World, create_world
from bench.data import load as load_data
from bench.load import Req
from bench.report import Report, Row, markdown, render_table, table, targets, write_results
from bench.scenarios import BARE, SCENARIOS, Probe, Scenario, documented_routes, probe
from quill.db.engine import make_engine, make_session_factory
from quill.migrations.run import upgrade
from quill.settings import Settings

HERE = Path(__file__).resolve().parent
OUT = HERE / "out"
STORM_SHARE = 0.9  # logins per second as a share of the ceiling (a moving window forgives
# nothing at exactly 100%, and two workers each count their own window)
PACED_SHARE = 0.5  # the paced /auth/me load as a share of its closed-loop throughput
# The paced stream is a few connections that each pause between requests, driven by wrk
# like the other scenarios. It used to be the Python driver's open loop, whose own latency
# on the shared load core (p50 ~4 ms, p99 spikes past 100 ms against a server answering in
# 0.5 ms) hid the server's. The Python driver, when wrk is missing, keeps up with at most
# PYTHON_PACED_MAX_RATE beside the storm's driver on the same core.
PACED_CONNECTIONS = 10
PYTHON_PACED_MAX_RATE = 200.0
# Twice a scenario's usual time: a p99 from a few hundred requests is one slow request.
PACED_SECONDS_FACTOR = 2


@dataclass(frozen=True)
class Plan:
    mode: str
    backends: tuple[str, ...]
    workers: tuple[int, ...]
    scales: tuple[Scale, ...]
    seconds: float
    warmup: float
    connections: int
    fhir_store: bool
    profile: bool
    only: tuple[str, ...] = ()  # scenario names; empty: all


def plan_scenarios(plan: Plan) -> tuple[Scenario, ...]:
    return tuple(s for s in SCENARIOS if not plan.only or s.name in plan.only)


QUICK = Plan("quick", ("sqlite",), (1,),
             (Scale("small", 1_000, 10_000), Scale("large", 10_000, 100_000)),
             seconds=3, warmup=1, connections=16, fhir_store=False, profile=True)
FULL = Plan("full", ("sqlite", "postgres"), (1, 2),
            (Scale("small", 1_000, 10_000), Scale("large", 100_000, 1_000_000)),
            seconds=6, warmup=1, connections=16, fhir_store=True, profile=True)


def say(message: str) -> None:
    print(message, flush=True)


def headers_for(scenario: Scenario, tokens: dict[str, str]) -> dict[str, str]:
    base = {"Content-Type": "application/json"}
    if scenario.auth == "user":
        base["Authorization"] = f"Bearer {tokens[scenario.user]}"
    elif scenario.auth == "service":
        base["Authorization"] = f"Bearer {harness.SERVICE_TOKEN}"
    return base


def job(plan: Plan, base_url: str, scenario: Scenario, headers: dict[str, str], scale: Scale,
        seconds: float | None = None) -> load.Job:
    return load.Job(base_url=base_url, requests=scenario.requests, headers=headers,
                    connections=scenario.connections or plan.connections,
                    seconds=seconds or plan.seconds,
                    conversations=scale.conversations, patients=scale.patients)


def measure(plan: Plan, work: load.Job, server: harness.Server | None = None,
            row: Row | None = None) -> load.Result:
    """Warm up, then measure; ``row`` gets the server's worker RSS after each."""
    if plan.warmup:
        load.run(replace(work, seconds=plan.warmup, seed=work.seed + 1))
    if server is not None and row is not None:
        row.rss_warm_mib = harness.worker_rss_mib(server)
    result = load.run(work)
    if server is not None and row is not None:
        row.rss_end_mib = harness.worker_rss_mib(server)
    return result


def bare_ceiling(plan: Plan, workers: int, workdir: Path) -> Row:
    env = harness.server_env("sqlite:///unused.db", workdir)
    with harness.serve("bare", workers, env, OUT / f"bare-{workers}w.log") as server:
        result = measure(plan, job(plan, server.base_url, BARE, {}, Scale("-", 0, 0)))
    row = Row("-", workers, "-", "bare", result, bare_rps=result.rps)
    say(f"bare ceiling, {workers} worker(s): {result.rps:.0f} req/s, p50 {result.p50_ms:.2f} ms")
    return row


def _available(scenario: Scenario, server: harness.Server, headers: dict[str, str],
               routes: set[tuple[str, str]], scale: Scale) -> tuple[Scenario | None, str]:
    """The scenario trimmed to what the server serves, or None and why it is skipped."""
    served: list[tuple[Req, Probe]] = []
    missing: list[tuple[Req, Probe]] = []
    for req in scenario.requests:
        found = probe(server.base_url, req, headers, routes, scale.conversations,
                      scale.patients)
        (served if found.available else missing).append((req, found))
    if missing and not (scenario.mixed and served):
        req, found = missing[0]
        return None, f"{found.detail}: {req.method} {req.path.split('?')[0]} ({found.status})"
    note = ", ".join(f"without {r.method} {r.path.split('?')[0]}" for r, _ in missing)
    bad = [f"{r.method} {r.path} -> {f.status} {f.detail}" for r, f in served
           if f.status >= 400]
    trimmed = replace(scenario, requests=tuple(r for r, _ in served))
    return trimmed, "; ".join(([note] if note else []) + ["probe " + b for b in bad])


def paced_run(plan: Plan, server: harness.Server, scenario: Scenario, headers: dict[str, str],
              scale: Scale, world: World, rate: float, row: Row) -> tuple[load.Result, str]:
    """``scenario`` at about ``rate`` requests/s, with the login storm beside it if asked."""
    think_ms = PACED_CONNECTIONS * 1000 / rate
    seconds = plan.seconds * PACED_SECONDS_FACTOR
    work = replace(job(plan, server.base_url, scenario, headers, scale, seconds),
                   connections=PACED_CONNECTIONS, think_ms=think_ms)
    if plan.warmup:
        load.run(replace(work, seconds=plan.warmup, seed=2))
    storm = None
    if scenario.storm:
        body = json.dumps({"username": world.storm_username, "password": BENCH_PASSWORD})
        logins = load.Job(base_url=server.base_url, requests=(
            load.Req("POST", "/api/auth/login", body),), headers={
            "Content-Type": "application/json"}, connections=32,
            seconds=seconds + plan.warmup)
        storm = load.start_rate(logins, harness.LOGIN_CEILING_PER_MINUTE / 60 * STORM_SHARE)
        time.sleep(plan.warmup)
    row.rss_warm_mib = harness.worker_rss_mib(server)
    result = load.run(work)
    row.rss_end_mib = harness.worker_rss_mib(server)
    note = (f"{PACED_CONNECTIONS} connections pausing {think_ms:.0f} ms between requests "
            f"(~{rate:.0f} req/s)")
    if storm is not None:
        login_result, statuses = load.finish_rate(storm, seconds + plan.warmup)
        note += (f", beside {login_result.requests} logins at "
                 f"{harness.LOGIN_CEILING_PER_MINUTE / 60 * STORM_SHARE:.1f}/s (ceiling "
                 f"{harness.LOGIN_CEILING_PER_MINUTE}/min): statuses {statuses}, login p50 "
                 f"{login_result.p50_ms:.0f} ms p99 {login_result.p99_ms:.0f} ms")
        if login_result.errors:
            note = "errors in storm logins; " + note
    return result, note


def run_scenarios(plan: Plan, server: harness.Server, scale: Scale, world: World,
                  backend: str, workers: int, bare_rps: float) -> list[Row]:
    tokens = {"bench": harness.login_token(server.base_url, world.bench_username,
                                           BENCH_PASSWORD),
              "busy": harness.login_token(server.base_url, world.busy_username,
                                          BENCH_PASSWORD)}
    routes = documented_routes(server.base_url)
    rows = []
    for scenario in plan_scenarios(plan):
        headers = headers_for(scenario, tokens)
        row = Row(backend, workers, scale.name, scenario.name, bare_rps=bare_rps)
        trimmed, note = _available(scenario, server, headers, routes, scale)
        if trimmed is None:
            row.skipped = note
            say(f"  {scenario.name:<22} skipped: {note}")
            rows.append(row)
            continue
        if scenario.paced:
            me = next((r for r in rows if r.scenario == "auth_me" and r.result), None)
            share = PACED_SHARE * me.result.rps if me and me.result else 50.0
            share = scenario.rate or share
            cap = PYTHON_PACED_MAX_RATE if load.tool() == "python" else share
            rate = min(cap, max(10.0, share))
            row.result, row.note = paced_run(plan, server, trimmed, headers, scale, world, rate,
                                             row)
        else:
            row.result = measure(plan, job(plan, server.base_url, trimmed, headers, scale),
                                 server, row)
            row.note = note
            if scenario.connections:
                row.note = f"{scenario.connections} connections" + (f"; {note}" if note else "")
        r = row.result
        say(f"  {scenario.name:<22} {r.rps:8.1f} req/s  p50 {r.p50_ms:7.2f} ms  "
            f"p99 {r.p99_ms:7.2f} ms  errors {r.errors}  RSS {row.rss_warm_mib:.0f}->"
            f"{row.rss_end_mib:.0f} MiB {row.note}")
        rows.append(row)
    return rows


async def prepare(url: str, scale: Scale) -> World:
    await asyncio.to_thread(upgrade, url)
    engine = make_engine(url)
    try:
        world = await create_world(make_session_factory(engine), Settings(database_url=url))
        started = time.perf_counter()
        await load_data(engine, world, scale)
        say(f"  loaded {scale.patients} patients, {scale.messages} messages, "
            f"{scale.conversations} threads in {time.perf_counter() - started:.1f} s")
    finally:
        await engine.dispose()
    return world


async def backend_runs(plan: Plan, backend: str, bare: dict[int, float], workdir: Path,
                       report: Report) -> None:
    for scale in plan.scales:
        say(f"{backend}, {scale.name} scale")
        async with harness.database(backend, workdir) as url:
            world = await prepare(url, scale)
            env = harness.server_env(url, workdir)
            for workers in plan.workers:
                log = OUT / f"quill-{backend}-{scale.name}-{workers}w.log"
                with harness.serve("quill", workers, env, log) as server:
                    say(f" {workers} worker(s)")
                    rows = run_scenarios(plan, server, scale, world, backend, workers,
                                         bare[workers])
                    report.rows += rows
                    if plan.profile and not report.extra and scale is plan.scales[-1]:
                        report.extra += profile.slowest(plan, server, rows, scale, world)


async def fhir_store(plan: Plan, workdir: Path) -> list[str]:
    """The embedded FHIR store's own latencies (bench.fhir_search) on each backend."""
    lines = []
    for backend in plan.backends:
        async with harness.database(backend, workdir) as url:
            say(f"fhir store bench on {backend}")
            out = await asyncio.to_thread(
                subprocess.run, [sys.executable, "-m", "bench.fhir_search", "--database-url",
                                 url], capture_output=True, text=True, check=False)
            lines += [f"{backend}: {line}" for line in out.stdout.splitlines()]
            if out.returncode:
                lines.append(f"{backend}: failed: {out.stderr.strip()[-500:]}")
    return ["### FHIR store (bench.fhir_search)", "", "```", *lines, "```", ""]


async def main_async(plan: Plan) -> Report:
    report = Report(plan.mode, load.tool_version())
    backends = list(plan.backends)
    if "postgres" in backends and not await harness.postgres_available():
        say("PostgreSQL does not answer: SQLite only")
        backends.remove("postgres")
    plan = replace(plan, backends=tuple(backends))
    with tempfile.TemporaryDirectory(prefix="quill-bench-") as tmp:
        workdir = Path(tmp)
        bare = {}
        for workers in plan.workers:
            row = bare_ceiling(plan, workers, workdir)
            report.rows.append(row)
            bare[workers] = row.bare_rps
        for backend in plan.backends:
            await backend_runs(plan, backend, bare, workdir, report)
        if plan.fhir_store:
            report.extra += await fhir_store(plan, workdir)
    return report


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description="Quill benchmark")
    parser.add_argument("--quick", action="store_true", help="small scales, SQLite, 1 worker")
    parser.add_argument("--no-profile", action="store_true")
    parser.add_argument("--only", default="", help="comma-separated scenario names")
    parser.add_argument("--db", choices=("sqlite", "postgres"), help="one backend only")
    parser.add_argument("--scale", choices=("small", "large"), help="one scale only")
    parser.add_argument("--workers", type=int, choices=(1, 2), help="one worker count only")
    parser.add_argument("--results", type=Path,
                        help="default bench/RESULTS.md, or bench/out/subset.md for a subset")
    args = parser.parse_args(argv)
    plan = QUICK if args.quick else FULL
    only = tuple(name for name in args.only.split(",") if name)
    unknown = set(only) - {s.name for s in SCENARIOS}
    if unknown:
        parser.error(f"unknown scenarios: {', '.join(sorted(unknown))}")
    subset = bool(only or args.db or args.scale or args.workers)
    plan = replace(
        plan, profile=plan.profile and not args.no_profile, only=only,
        backends=(args.db,) if args.db else plan.backends,
        scales=tuple(s for s in plan.scales if s.name == (args.scale or s.name)),
        workers=(args.workers,) if args.workers else plan.workers,
        fhir_store=plan.fhir_store and not subset)
    if args.results is None:
        args.results = OUT / "subset.md" if subset else HERE / "RESULTS.md"
    if not shutil.which("taskset"):
        say("taskset is missing (util-linux): cannot pin server and load to separate cores")
        return 2
    OUT.mkdir(exist_ok=True)
    started = time.perf_counter()
    report = asyncio.run(main_async(plan))
    say("")
    say(render_table(table(report)))
    say("")
    for target in targets(report):
        say(f"{target.verdict:<4}  {target.config:<12} {target.name:<40} {target.why}")
    note = (f"Server: uvicorn via bench.serve pinned to core {harness.SERVER_CORE}, load "
            f"pinned to core {load.LOAD_CORE}, {plan.connections} connections, "
            f"{plan.seconds:g} s per scenario after {plan.warmup:g} s warm-up; "
            f"QUILL_RATE_LIMIT_LOGIN raised to {harness.LOGIN_CEILING_PER_MINUTE}/minute for "
            f"the storm; log level INFO (one JSON line per request, as in production)")
    write_results(args.results, markdown(report, note))
    say(f"\nwrote {args.results} in {time.perf_counter() - started:.0f} s total")
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
