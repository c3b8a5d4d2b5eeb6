"""Driving load from a separate process pinned to the load core: wrk when installed, else
bench.pydriver (asyncio + httpx). Both take the same Job and give the same Result.

Paths may hold placeholders filled per request: ``{conv}`` a thread the bench user
started, ``{patient}`` a bulk Patient number, ``{mrn}`` that Patient's MRN.
"""

from __future__ import annotations

import json
import shutil
import subprocess
import sys
import tempfile
from dataclasses import asdict, dataclass, field
from pathlib import Path
from typing import Any

from bench.data import CLINICIANS

LOAD_CORE = "1"
RESULT_MARK = "BENCHJSON "


@dataclass(frozen=True)
class Req:
    method: str
    path: str
    body: str | None = None
    weight: int = 1


@dataclass(frozen=True)
class Job:
    base_url: str
    requests: tuple[Req, ...]
    headers: dict[str, str]
    connections: int
    seconds: float
    conversations: int = 0  # threads in the database (the bench user starts every 10th)
    patients: int = 0
    seed: int = 1
    # Each connection waits this long after an answer before its next request: a paced
    # stream of about connections * 1000 / think_ms requests/s (0: as fast as answered).
    think_ms: float = 0.0


@dataclass
class Result:
    requests: int = 0
    seconds: float = 0.0
    p50_ms: float = 0.0
    p99_ms: float = 0.0
    errors: int = 0  # non-2xx/3xx answers plus socket errors and timeouts
    detail: dict[str, int] = field(default_factory=dict)

    @property
    def rps(self) -> float:
        return self.requests / self.seconds if self.seconds else 0.0


def tool() -> str:
    return "wrk" if shutil.which("wrk") else "python"


def tool_version() -> str:
    if tool() == "python":
        return "bench.pydriver (asyncio + httpx, one process)"
    out = subprocess.run(["wrk", "-v"], capture_output=True, text=True, check=False)
    return (out.stdout or out.stderr).splitlines()[0].strip()


def _lua_string(value: str) -> str:
    return json.dumps(value)  # a JSON string literal is a valid Lua string literal here


def lua_script(job: Job) -> str:
    entries = ",\n".join(
        f"  {{w={r.weight}, m={_lua_string(r.method)}, p={_lua_string(r.path)}, "
        f"b={_lua_string(r.body) if r.body is not None else 'nil'}}}"
        for r in job.requests)
    headers = "\n".join(f"wrk.headers[{_lua_string(k)}] = {_lua_string(v)}"
                        for k, v in job.headers.items())
    return f"""
local reqs = {{
{entries}
}}
{headers}
local total = 0
for _, r in ipairs(reqs) do total = total + r.w end
local THREADS = math.max(1, math.floor({job.conversations} / {CLINICIANS}))
local PATIENTS = math.max(1, {job.patients})

function init(args)
  math.randomseed(tonumber(args[1]) or 1)
end

local function fill(p)
  p = p:gsub("{{conv}}", function() return tostring({CLINICIANS} * math.random(1, THREADS)) end)
  p = p:gsub("{{patient}}", function() return tostring(math.random(1, PATIENTS)) end)
  p = p:gsub("{{mrn}}", function() return string.format("MRN%08d", math.random(1, PATIENTS)) end)
  return p
end

function request()
  local x = math.random() * total
  for _, r in ipairs(reqs) do
    x = x - r.w
    if x <= 0 then return wrk.format(r.m, fill(r.p), nil, r.b) end
  end
  local r = reqs[#reqs]
  return wrk.format(r.m, fill(r.p), nil, r.b)
end

{f"function delay() return {job.think_ms:g} end" if job.think_ms else ""}

function done(summary, latency, requests)
  local e = summary.errors
  io.write(string.format(
    '{RESULT_MARK}{{"requests":%d,"duration_us":%d,"p50_us":%d,"p99_us":%d,'
    .. '"connect":%d,"read":%d,"write":%d,"status":%d,"timeout":%d}}\\n',
    summary.requests, summary.duration, latency:percentile(50), latency:percentile(99),
    e.connect, e.read, e.write, e.status, e.timeout))
end
"""


def _parse(stdout: str) -> dict[str, Any]:
    for line in stdout.splitlines():
        if line.startswith(RESULT_MARK):
            parsed: dict[str, Any] = json.loads(line[len(RESULT_MARK):])
            return parsed
    raise RuntimeError(f"load generator printed no result:\n{stdout[-2000:]}")


def run_wrk(job: Job) -> Result:
    with tempfile.NamedTemporaryFile("w", suffix=".lua", delete=False) as script:
        script.write(lua_script(job))
    try:
        command = ["taskset", "-c", LOAD_CORE, "wrk", "-t1", f"-c{job.connections}",
                   f"-d{max(1, round(job.seconds))}s", "--timeout", "10s", "-s", script.name,
                   job.base_url, "--", str(job.seed)]
        out = subprocess.run(command, capture_output=True, text=True, check=True,
                             timeout=job.seconds + 60)
    finally:
        Path(script.name).unlink(missing_ok=True)
    raw = _parse(out.stdout)
    detail = {k: int(raw[k]) for k in ("connect", "read", "write", "status", "timeout")}
    return Result(requests=int(raw["requests"]), seconds=raw["duration_us"] / 1e6,
                  p50_ms=raw["p50_us"] / 1000, p99_ms=raw["p99_us"] / 1000,
                  errors=sum(detail.values()), detail={k: v for k, v in detail.items() if v})


def run_python(job: Job) -> Result:
    command = ["taskset", "-c", LOAD_CORE, sys.executable, "-m", "bench.pydriver"]
    out = subprocess.run(command, input=json.dumps(asdict(job)), capture_output=True,
                         text=True, check=True, timeout=job.seconds + 60)
    raw = _parse(out.stdout)
    return Result(requests=int(raw["requests"]), seconds=raw["seconds"],
                  p50_ms=raw["p50_ms"], p99_ms=raw["p99_ms"], errors=int(raw["errors"]),
                  detail={str(k): int(v) for k, v in dict(raw.get("detail", {})).items()})


def run(job: Job) -> Result:
    return run_wrk(job) if tool() == "wrk" else run_python(job)


def start_rate(job: Job, rate: float) -> subprocess.Popen[str]:
    """Start an open-loop stream at ``rate`` requests/s (the login storm) in the background."""
    spec = {**asdict(job), "rate": rate}
    command = ["taskset", "-c", LOAD_CORE, sys.executable, "-m", "bench.pydriver"]
    process = subprocess.Popen(command, stdin=subprocess.PIPE, stdout=subprocess.PIPE,
                               stderr=subprocess.PIPE, text=True)
    assert process.stdin is not None
    process.stdin.write(json.dumps(spec))
    process.stdin.close()
    return process


def finish_rate(process: subprocess.Popen[str], seconds: float) -> tuple[Result, dict[str, int]]:
    """Wait for a start_rate stream; its Result and the count of each answer status."""
    assert process.stdout is not None
    stdout = process.stdout.read()
    process.wait(timeout=seconds + 60)
    raw: dict[str, Any] = _parse(stdout)
    result = Result(requests=int(raw["requests"]), seconds=raw["seconds"],
                    p50_ms=raw["p50_ms"], p99_ms=raw["p99_ms"], errors=int(raw["errors"]),
                    detail=dict(raw.get("detail", {})))
    return result, dict(raw.get("statuses", {}))
