"""Per-request cost of each scenario, measured in-process: the app built by ``create_app``
over a freshly loaded bench database, called as an ASGI app (no sockets, no HTTP client),
one request at a time. Noise on a shared machine only adds time, so the fastest request and
the median are reported, with the process CPU per request; ``--profile`` adds a cProfile of
one scenario. Used for the before/after of each change in bench/RESULTS.md.

    python -m bench.inprocess --db postgres --only conversations_list,fhir_read
    python -m bench.inprocess --db sqlite --profile conversation_detail
"""

from __future__ import annotations

import argparse
import asyncio
import cProfile
import gc
import io
import json
import os
import pstats
import statistics
import tempfile
import time
from collections.abc import Awaitable, Callable, MutableMapping
from pathlib import Path
from typing import Any

from sqlalchemy import event

from bench import harness
from bench.data import BENCH_PASSWORD, Scale
from bench.run import prepare
from bench.scenarios import SCENARIOS, Scenario, fill
from quill.app import create_app
from quill.settings import Settings

Message = MutableMapping[str, Any]
App = Callable[[Message, Callable[[], Awaitable[Message]], Callable[[Message], Awaitable[None]]],
               Awaitable[None]]
SCALE = Scale("inprocess", 2_000, 20_000)


async def call(app: App, method: str, path: str, headers: dict[str, str],
               body: bytes = b"") -> tuple[int, bytes, list[tuple[bytes, bytes]]]:
    """One request straight through the ASGI interface."""
    raw_path, _, query = path.partition("?")
    scope: Message = {
        "type": "http", "asgi": {"version": "3.0"}, "http_version": "1.1", "method": method,
        "scheme": "http", "path": raw_path, "raw_path": raw_path.encode(),
        "query_string": query.encode(), "root_path": "",
        "headers": [(k.lower().encode(), v.encode()) for k, v in headers.items()]
        + [(b"host", b"bench"), (b"content-length", str(len(body)).encode())],
        "client": ("127.0.0.1", 40000), "server": ("127.0.0.1", 8000),
    }
    sent = False

    async def receive() -> Message:
        nonlocal sent
        if sent:
            await asyncio.sleep(3600)
        sent = True
        return {"type": "http.request", "body": body, "more_body": False}

    status, chunks, response_headers = 0, [], []

    async def send(message: Message) -> None:
        nonlocal status, response_headers
        if message["type"] == "http.response.start":
            status = message["status"]
            response_headers = list(message.get("headers", []))
        elif message["type"] == "http.response.body":
            chunks.append(message.get("body", b""))

    await app(scope, receive, send)
    return status, b"".join(chunks), response_headers


async def login(app: App, username: str) -> str:
    status, _, headers = await call(
        app, "POST", "/api/auth/login", {"content-type": "application/json"},
        json.dumps({"username": username, "password": BENCH_PASSWORD}).encode())
    if status != 200:
        raise RuntimeError(f"login answered {status}")
    for name, value in headers:
        if name == b"set-cookie" and value.startswith(b"access_token="):
            return value.split(b";", 1)[0].split(b"=", 1)[1].decode()
    raise RuntimeError("login set no access_token cookie")


async def measure(app: App, scenario: Scenario, headers: dict[str, str], count: int,
                  profiler: cProfile.Profile | None) -> dict[str, float]:
    req = scenario.requests[0]
    path = fill(req.path, SCALE.conversations, SCALE.patients)
    body = (req.body or "").encode()
    for _ in range(20):
        status, text, _ = await call(app, req.method, path, headers, body)
        if status >= 400:
            raise RuntimeError(f"{scenario.name}: {status} {text[:300]!r}")
    walls = []
    cpu_start = time.process_time()
    if profiler:
        profiler.enable()
    for _ in range(count):
        started = time.perf_counter()
        await call(app, req.method, path, headers, body)
        walls.append(time.perf_counter() - started)
    if profiler:
        profiler.disable()
    cpu = time.process_time() - cpu_start
    return {"min_us": min(walls) * 1e6, "p50_us": statistics.median(walls) * 1e6,
            "cpu_us": cpu / count * 1e6}


async def show_statements(app: Any, scenario: Scenario, headers: dict[str, str]) -> None:
    """Print the statements one request of ``scenario`` sends to the database."""
    seen: list[str] = []

    def record(_conn: Any, _cursor: Any, statement: str, *_rest: Any) -> None:
        seen.append(" ".join(statement.split())[:240])

    runtime = app.state.runtime
    # The writer and, where it has a pool of its own (SQLite), the reader; on PostgreSQL
    # the reader is the writer's engine with options, whose listeners it shares.
    engines: dict[int, Any] = {}
    for each in (runtime.engine, runtime.reader):
        engines.setdefault(id(each.sync_engine.pool), each.sync_engine)
    for engine in engines.values():
        event.listen(engine, "before_cursor_execute", record)
    req = scenario.requests[0]
    try:
        for _ in range(2):  # the first may fill caches (the caller's, statements')
            seen.clear()
            await call(app, req.method, fill(req.path, SCALE.conversations, SCALE.patients),
                       headers, (req.body or "").encode())
    finally:
        for engine in engines.values():
            event.remove(engine, "before_cursor_execute", record)
    print(f"{scenario.name}: {len(seen)} statements")
    for statement in seen:
        print("   ", statement)


async def main_async(args: argparse.Namespace) -> None:
    workdir = Path(tempfile.mkdtemp(prefix="quill-inprocess-"))
    async with harness.database(args.db, workdir) as url:
        world = await prepare(url, SCALE)
        env = harness.server_env(url, workdir)
        env["QUILL_LOG_LEVEL"] = "WARNING"
        os.environ.update({k: v for k, v in env.items() if k.startswith("QUILL_")})
        app: Any = create_app(Settings())
        async with app.router.lifespan_context(app):
            gc.freeze()  # as quill.asgi does for the server's workers
            tokens = {"bench": await login(app, world.bench_username),
                      "busy": await login(app, world.busy_username)}
            names = args.only.split(",") if args.only else [
                "auth_me", "patients_list", "conversations_list", "conversations_200",
                "conversation_detail", "post_message", "fhir_read", "fhir_search"]
            if args.profile:
                names = [args.profile]
            for scenario in (s for s in SCENARIOS if s.name in names):
                headers = {"content-type": "application/json"}
                if scenario.auth == "user":
                    headers["authorization"] = f"Bearer {tokens[scenario.user]}"
                elif scenario.auth == "service":
                    headers["authorization"] = f"Bearer {harness.SERVICE_TOKEN}"
                if args.statements:
                    await show_statements(app, scenario, headers)
                profiler = cProfile.Profile() if args.profile else None
                result = await measure(app, scenario, headers, args.count, profiler)
                print(f"{args.db:<9} {scenario.name:<22} min {result['min_us']:8.0f} us  "
                      f"p50 {result['p50_us']:8.0f} us  cpu {result['cpu_us']:8.0f} us",
                      flush=True)
                if profiler:
                    out = io.StringIO()
                    stats = pstats.Stats(profiler, stream=out)
                    stats.sort_stats(args.sort).print_stats(args.top)
                    print(out.getvalue())


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--db", choices=("sqlite", "postgres"), default="postgres")
    parser.add_argument("--only", default="", help="comma-separated scenario names")
    parser.add_argument("--count", type=int, default=300)
    parser.add_argument("--profile", default="", help="one scenario to profile")
    parser.add_argument("--statements", action="store_true",
                        help="print each scenario's statements")
    parser.add_argument("--sort", default="tottime")
    parser.add_argument("--top", type=int, default=40)
    asyncio.run(main_async(parser.parse_args(argv)))
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
