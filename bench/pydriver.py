"""Python load driver (run in its own process, pinned by the caller): reads a Job as JSON on
stdin and prints one ``BENCHJSON {...}`` line.

Two modes: closed loop (``connections`` concurrent clients, as wrk does, each pausing
``think_ms`` between requests when set) when ``rate`` is absent, and open loop at a fixed
``rate`` per second (the login storm). Requests and time
are both bounded, and only loopback targets are accepted.
"""

from __future__ import annotations

import asyncio
import json
import random
import sys
import time
from collections import Counter
from typing import Any
from urllib.parse import urlsplit

import httpx

from bench.data import CLINICIANS
from bench.load import RESULT_MARK

MAX_REQUESTS = 1_000_000
LOOPBACK = ("127.", "localhost", "::1")


class Plan:
    def __init__(self, job: dict[str, Any]) -> None:
        self.requests = job["requests"]
        self.weights = [r["weight"] for r in self.requests]
        self.threads = max(1, job.get("conversations", 0) // CLINICIANS)
        self.patients = max(1, job.get("patients", 0))
        self.rng = random.Random(job.get("seed", 1))
        self.think_seconds = float(job.get("think_ms", 0.0)) / 1000

    def next(self) -> tuple[str, str, str | None]:
        r = self.rng.choices(self.requests, self.weights)[0]
        path = r["path"]
        if "{conv}" in path:
            path = path.replace("{conv}", str(CLINICIANS * self.rng.randint(1, self.threads)))
        if "{patient}" in path:
            path = path.replace("{patient}", str(self.rng.randint(1, self.patients)))
        if "{mrn}" in path:
            path = path.replace("{mrn}", f"MRN{self.rng.randint(1, self.patients):08d}")
        return r["method"], path, r.get("body")


class Tally:
    def __init__(self) -> None:
        self.latencies: list[float] = []
        self.statuses: Counter[str] = Counter()

    async def send(self, http: httpx.AsyncClient, plan: Plan) -> None:
        method, path, body = plan.next()
        started = time.perf_counter()
        try:
            response = await http.request(method, path, content=body)
            key = str(response.status_code)
        except httpx.HTTPError as exc:
            key = type(exc).__name__
        self.latencies.append((time.perf_counter() - started) * 1000)
        self.statuses[key] += 1

    def result(self, seconds: float) -> dict[str, Any]:
        ordered = sorted(self.latencies) or [0.0]
        errors = {k: v for k, v in self.statuses.items() if k[:1] not in {"2", "3"}}
        return {"requests": len(self.latencies), "seconds": seconds,
                "p50_ms": ordered[len(ordered) // 2],
                "p99_ms": ordered[min(len(ordered) - 1, int(len(ordered) * 0.99))],
                "errors": sum(errors.values()), "detail": errors,
                "statuses": dict(self.statuses)}


async def closed_loop(http: httpx.AsyncClient, plan: Plan, tally: Tally, connections: int,
                      deadline: float) -> None:
    async def client() -> None:
        while time.perf_counter() < deadline and len(tally.latencies) < MAX_REQUESTS:
            await tally.send(http, plan)
            if plan.think_seconds:
                await asyncio.sleep(plan.think_seconds)

    await asyncio.gather(*(client() for _ in range(connections)))


async def open_loop(http: httpx.AsyncClient, plan: Plan, tally: Tally, rate: float,
                    deadline: float) -> None:
    pending: set[asyncio.Task[None]] = set()
    start, n = time.perf_counter(), 0
    while time.perf_counter() < deadline and n < MAX_REQUESTS:
        task = asyncio.create_task(tally.send(http, plan))
        pending.add(task)
        task.add_done_callback(pending.discard)
        n += 1
        await asyncio.sleep(max(0.0, start + n / rate - time.perf_counter()))
    if pending:
        await asyncio.wait(pending, timeout=10)


async def drive(job: dict[str, Any]) -> dict[str, Any]:
    host = urlsplit(job["base_url"]).hostname or ""
    if not host.startswith(LOOPBACK):
        raise SystemExit(f"refusing a non-loopback target: {host}")
    plan, tally = Plan(job), Tally()
    limits = httpx.Limits(max_connections=max(1, job.get("connections", 1)) + 8)
    async with httpx.AsyncClient(base_url=job["base_url"], headers=job.get("headers", {}),
                                 limits=limits, timeout=10) as http:
        started = time.perf_counter()
        deadline = started + float(job["seconds"])
        if job.get("rate"):
            await open_loop(http, plan, tally, float(job["rate"]), deadline)
        else:
            await closed_loop(http, plan, tally, int(job["connections"]), deadline)
        return tally.result(time.perf_counter() - started)


def main() -> int:
    job = json.loads(sys.stdin.read())
    print(RESULT_MARK + json.dumps(asyncio.run(drive(job))), flush=True)
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
