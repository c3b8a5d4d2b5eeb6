"""Sampling profile (py-spy) of the server while it serves the slowest scenario.

Writes a speedscope file and collapsed stacks to bench/out/ and returns a markdown section
with the functions that hold the most samples (inclusive, and own time at the leaf).
"""

from __future__ import annotations

import re
import shutil
import subprocess
import sys
from collections import Counter
from pathlib import Path
from typing import TYPE_CHECKING

from bench import load
from bench.report import Row
from bench.scenarios import SCENARIOS

if TYPE_CHECKING:
    from bench.data import Scale, World
    from bench.harness import Server
    from bench.run import Plan

OUT = Path(__file__).resolve().parent / "out"
TOP = 15
_LINE = re.compile(r"\s*\(([^)]*?)(?::\d+)?\)\s*$")


def _py_spy() -> str | None:
    beside = Path(sys.executable).parent / "py-spy"
    return str(beside) if beside.exists() else shutil.which("py-spy")


def _frame(raw: str) -> str:
    """'name (path/to/file.py:12)' -> 'name (file.py)': lines merged, paths shortened."""
    if raw.startswith("process "):
        # py-spy's root frame names the process with its full command line.
        return "(process: no Python frame)"
    match = _LINE.search(raw)
    if not match:
        return raw.strip()
    name = raw[:match.start()].strip()
    where = match.group(1)
    short = where.split("site-packages/")[-1].split("/src/")[-1]
    return f"{name} ({short})"


def summarise(collapsed: str) -> tuple[int, Counter[str], Counter[str]]:
    """Total samples, inclusive and own (leaf) sample counts per frame."""
    total, inclusive, own = 0, Counter[str](), Counter[str]()
    for line in collapsed.splitlines():
        stack, _, count = line.rpartition(" ")
        if not stack or not count.isdigit():
            continue
        frames = [_frame(f) for f in stack.split(";") if f]
        n = int(count)
        total += n
        for frame in set(frames):
            inclusive[frame] += n
        if frames:
            own[frames[-1]] += n
    return total, inclusive, own


def package_of(frame: str) -> str:
    """The top-level package (or stdlib module) a frame's code lives in."""
    where = frame.rsplit("(", 1)[-1].rstrip(")")
    head = where.split("/", 1)[0] if "/" in where else where.split(":", 1)[0]
    return head.removesuffix(".py") or "?"


def by_package(own: Counter[str]) -> Counter[str]:
    packages = Counter[str]()
    for frame, n in own.items():
        packages[package_of(frame)] += n
    return packages


def _table(title: str, counts: Counter[str], total: int, only_quill: bool) -> list[str]:
    lines = [f"{title}:", ""]
    picked = [(f, n) for f, n in counts.most_common()
              if not only_quill or "quill/" in f][:TOP]
    lines += [f"    {100 * n / total:5.1f}%  {f}" for f, n in picked]
    return [*lines, ""]


def slowest(plan: Plan, server: Server, rows: list[Row], scale: Scale, world: World
            ) -> list[str]:
    """Profile the lowest-throughput scenario of ``rows`` (storms excluded) once more."""
    from bench.run import headers_for, job  # the harness module imports this one

    tool = _py_spy()
    paced = {s.name for s in SCENARIOS if s.paced}
    measured = [r for r in rows if r.result is not None and r.scenario not in paced]
    if tool is None or not measured:
        return ["### Profile", "", "py-spy not installed or nothing measured; no profile.", ""]
    row = min(measured, key=lambda r: r.result.rps if r.result else 0.0)
    scenario = next(s for s in SCENARIOS if s.name == row.scenario)
    tokens = {"bench": _token(server, world.bench_username),
              "busy": _token(server, world.busy_username)}
    seconds = max(plan.seconds, 4)
    stem = OUT / f"profile-{row.backend}-{row.scale}-{row.scenario}"
    command = ["taskset", "-c", load.LOAD_CORE, tool, "record", "--pid", str(server.pid),
               "--duration", str(int(seconds)), "--rate", "250", "--gil", "--nonblocking",
               "--subprocesses", "--format", "raw", "-o", f"{stem}.txt"]
    spy = subprocess.Popen(command, stdout=subprocess.DEVNULL, stderr=subprocess.PIPE, text=True)
    result = load.run(job(plan, server.base_url, scenario, headers_for(scenario, tokens), scale,
                          seconds=seconds))
    _, err = spy.communicate(timeout=seconds + 60)
    path = Path(f"{stem}.txt")
    if not path.exists():
        return ["### Profile", "", f"py-spy failed: {err.strip()[-300:]}", ""]
    total, inclusive, own = summarise(path.read_text())
    head = [
        "### Profile of the slowest scenario",
        "",
        f"`{row.scenario}` on {row.config}, {row.scale} scale ({result.rps:.1f} req/s while "
        f"sampled; {total} samples at 250 Hz of the thread holding the GIL, py-spy --gil "
        f"--nonblocking; time in C without the GIL, such as SQLite's own work, is not "
        f"sampled). Collapsed stacks: "
        f"`bench/out/{path.name}`.",
        "",
    ]
    return [*head, *_table("Own time by package", by_package(own), max(total, 1), False),
            *_table("Quill frames, inclusive share of samples", inclusive,
                           max(total, 1), True),
            *_table("Own time (leaf frames)", own, max(total, 1), False)]


def _token(server: Server, username: str) -> str:
    from bench.data import BENCH_PASSWORD
    from bench.harness import login_token

    return login_token(server.base_url, username, BENCH_PASSWORD)
