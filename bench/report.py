"""Rows, targets and the markdown written to bench/RESULTS.md."""

from __future__ import annotations

import os
import platform
import subprocess
from dataclasses import dataclass, field
from datetime import UTC, datetime
from pathlib import Path

from bench.load import Result
from bench.scenarios import PAGE_COUNTERPARTS

BEGIN, END = "<!-- bench:begin -->", "<!-- bench:end -->"


@dataclass
class Row:
    backend: str
    workers: int
    scale: str
    scenario: str
    result: Result | None = None
    skipped: str = ""
    bare_rps: float = 0.0
    note: str = ""
    rss_warm_mib: float = 0.0  # the largest worker's resident set after the warm-up
    rss_end_mib: float = 0.0  # and after the measured run

    @property
    def config(self) -> str:
        return f"{self.backend}/{self.workers}w"


@dataclass
class Target:
    config: str
    name: str
    verdict: str  # PASS, FAIL or SKIP
    why: str


@dataclass
class Report:
    mode: str
    driver: str
    rows: list[Row] = field(default_factory=list)
    extra: list[str] = field(default_factory=list)  # preformatted sections (FHIR store, profile)

    def find(self, config: str, scale: str, scenario: str) -> Row | None:
        for row in self.rows:
            if (row.config, row.scale, row.scenario) == (config, scale, scenario):
                return row
        return None


def _fmt(value: float, digits: int = 1) -> str:
    return f"{value:.{digits}f}"


def ratio(report: Report, row: Row) -> str:
    """Large/small p50 for the same config and scenario, when both ran."""
    if row.result is None or row.scale != "large":
        return ""
    small = report.find(row.config, "small", row.scenario)
    if small is None or small.result is None or not small.result.p50_ms:
        return ""
    return _fmt(row.result.p50_ms / small.result.p50_ms, 2)


HEADER = ("config", "scale", "scenario", "req/s", "% bare", "p50 ms", "p99 ms", "errors",
          "L/S p50", "RSS MiB")


def table(report: Report) -> list[tuple[str, ...]]:
    lines: list[tuple[str, ...]] = []
    for row in report.rows:
        if row.result is None:
            lines.append((row.config, row.scale, row.scenario, "-", "-", "-", "-", "-",
                          f"skipped: {row.skipped}", "-"))
            continue
        r = row.result
        share = f"{100 * r.rps / row.bare_rps:.0f}%" if row.bare_rps and row.scenario != "bare" \
            else ""
        errors = str(r.errors) + (f" {r.detail}" if r.detail else "")
        rss = f"{row.rss_warm_mib:.0f}->{row.rss_end_mib:.0f}" if row.rss_end_mib else ""
        lines.append((row.config, row.scale, row.scenario, _fmt(r.rps), share,
                      _fmt(r.p50_ms, 2), _fmt(r.p99_ms, 2), errors, ratio(report, row), rss))
    return lines


def _check(config: str, name: str, ok: bool | None, why: str) -> Target:
    verdict = "SKIP" if ok is None else ("PASS" if ok else "FAIL")
    return Target(config, name, verdict, why)


def _me_share(report: Report, config: str) -> Target:
    me = report.find(config, "small", "auth_me")
    if me is None or me.result is None or not me.bare_rps:
        return _check(config, "/auth/me >= 40% of bare", None, "not measured")
    share = me.result.rps / me.bare_rps
    return _check(config, "/auth/me >= 40% of bare", share >= 0.40,
                  f"{100 * share:.0f}% ({_fmt(me.result.rps)} vs {_fmt(me.bare_rps)} req/s)")


def _errors(report: Report, config: str) -> Target:
    bad = [f"{r.scale}/{r.scenario}: {r.result.errors}" for r in report.rows
           if r.config == config and r.result is not None and r.result.errors]
    bad += [f"{r.scale}/{r.scenario}: {r.note}" for r in report.rows
            if r.config == config and r.note.startswith("errors")]
    return _check(config, "zero errors", not bad, "; ".join(bad) or "none")


def _scaling(report: Report, config: str, scenario: str) -> Target:
    name = f"{scenario} p50 large/small <= 1.5"
    small, large = (report.find(config, s, scenario) for s in ("small", "large"))
    if not (small and large and small.result and large.result):
        either = large or small
        skipped = either.skipped if either else "not measured"
        return _check(config, name, None, skipped or "one scale missing")
    value = large.result.p50_ms / small.result.p50_ms
    return _check(config, name, value <= 1.5,
                  f"{value:.2f} ({_fmt(large.result.p50_ms, 2)} vs "
                  f"{_fmt(small.result.p50_ms, 2)} ms)")


def _storm(report: Report, config: str) -> Target:
    name = "/auth/me p99 in storm <= 2x"
    parts, ok = [], True
    for scale in ("small", "large"):
        calm, storm = (report.find(config, scale, s)
                       for s in ("auth_me_paced", "auth_me_login_storm"))
        if not (calm and storm and calm.result and storm.result):
            continue
        value = storm.result.p99_ms / calm.result.p99_ms
        ok = ok and value <= 2.0
        parts.append(f"{scale} {value:.2f}x ({_fmt(storm.result.p99_ms, 2)} vs "
                     f"{_fmt(calm.result.p99_ms, 2)} ms)")
    return _check(config, name, ok if parts else None, "; ".join(parts) or "not measured")


def _page_cost(report: Report, config: str, page: str, counterpart: str) -> Target:
    """A web page's p50 against its JSON route's, at each scale both ran."""
    name = f"{page} p50 <= 1.5x {counterpart}"
    parts, ok = [], True
    for scale in ("small", "large"):
        html, json_ = (report.find(config, scale, s) for s in (page, counterpart))
        if not (html and json_ and html.result and json_.result and json_.result.p50_ms):
            continue
        value = html.result.p50_ms / json_.result.p50_ms
        ok = ok and value <= 1.5
        parts.append(f"{scale} {value:.2f}x ({_fmt(html.result.p50_ms, 2)} vs "
                     f"{_fmt(json_.result.p50_ms, 2)} ms)")
    if not parts:
        row = report.find(config, "small", page)
        return _check(config, name, None, (row.skipped if row else "") or "not measured")
    return _check(config, name, ok, "; ".join(parts))


# Issue 18: share of the bare endpoint, one worker, large scale.
SHARE_TARGETS = {"patients_list": 0.10, "conversations_list": 0.10,
                 "conversation_detail": 0.10, "post_message": 0.04, "mixed_clinician": 0.08,
                 "fhir_read": 0.15, "fhir_search": 0.10}
BUSY_LIST_MIN_RPS = 200.0
MEMORY_GROWTH_MAX = 1.2
PAIRED_P99_MAX = 2.0


def _shares(report: Report, config: str) -> list[Target]:
    out = []
    for scenario, share in SHARE_TARGETS.items():
        name = f"{scenario} >= {100 * share:.0f}% of bare (large)"
        row = report.find(config, "large", scenario)
        if row is None or row.result is None or not row.bare_rps:
            out.append(_check(config, name, None, row.skipped if row else "not measured"))
            continue
        value = row.result.rps / row.bare_rps
        out.append(_check(config, name, value >= share, f"{100 * value:.1f}%"))
    return out


def _busy_list(report: Report, config: str) -> Target:
    name = f"conversations_200 >= {BUSY_LIST_MIN_RPS:.0f} req/s (4 connections)"
    rows = [r for r in report.rows if r.config == config and r.scenario == "conversations_200"
            and r.result is not None]
    if not rows or not config.startswith("postgres"):
        return _check(config, name, None, "PostgreSQL only" if rows else "not measured")
    rates = [r.result.rps for r in rows if r.result]
    return _check(config, name, min(rates) >= BUSY_LIST_MIN_RPS,
                  ", ".join(f"{r.scale} {_fmt(r.result.rps)}" for r in rows if r.result))


def _memory(report: Report, config: str) -> Target:
    """Per server (config and scale): the last scenario's end RSS over the first warm-up's."""
    name = f"worker RSS end/warm-up <= {MEMORY_GROWTH_MAX}"
    parts, ok = [], True
    for scale in dict.fromkeys(r.scale for r in report.rows if r.config == config):
        rows = [r for r in report.rows if r.config == config and r.scale == scale
                and r.rss_warm_mib and r.rss_end_mib]
        if not rows:
            continue
        growth = rows[-1].rss_end_mib / rows[0].rss_warm_mib
        ok = ok and growth <= MEMORY_GROWTH_MAX
        parts.append(f"{scale} {growth:.2f} ({rows[0].rss_warm_mib:.0f} -> "
                     f"{rows[-1].rss_end_mib:.0f} MiB)")
    return _check(config, name, ok if parts else None, "; ".join(parts) or "not measured")


def _paired_p99(report: Report, backend: str) -> Target:
    """The audited patient read at one offered rate: two workers' p99 against one's."""
    config = f"{backend}/2w"
    name = f"patient_read_paced p99 2w <= {PAIRED_P99_MAX:g}x 1w"
    parts, ok = [], True
    for scale in ("small", "large"):
        one, two = (report.find(f"{backend}/{w}w", scale, "patient_read_paced") for w in (1, 2))
        if not (one and two and one.result and two.result and one.result.p99_ms):
            continue
        value = two.result.p99_ms / one.result.p99_ms
        ok = ok and value <= PAIRED_P99_MAX
        parts.append(f"{scale} {value:.2f}x ({_fmt(two.result.p99_ms, 2)} vs "
                     f"{_fmt(one.result.p99_ms, 2)} ms)")
    return _check(config, name, ok if parts else None, "; ".join(parts) or "not measured")


def targets(report: Report) -> list[Target]:
    configs = list(dict.fromkeys(r.config for r in report.rows if r.scenario != "bare"))
    out: list[Target] = []
    for config in configs:
        out += [_me_share(report, config), _errors(report, config),
                _scaling(report, config, "patients_list"),
                _scaling(report, config, "conversations_list"), _storm(report, config),
                _memory(report, config)]
        if config.endswith("/1w"):
            out += _shares(report, config)
        out.append(_busy_list(report, config))
        if config.endswith("/2w"):
            out.append(_paired_p99(report, config.split("/")[0]))
        out += [_page_cost(report, config, page, counterpart)
                for page, counterpart in PAGE_COUNTERPARTS]
    return out


def render_table(rows: list[tuple[str, ...]]) -> str:
    widths = [max(len(HEADER[i]), *(len(r[i]) for r in rows)) for i in range(len(HEADER))]
    lines = ["  ".join(h.ljust(w) for h, w in zip(HEADER, widths, strict=True))]
    lines += ["  ".join(c.ljust(w) for c, w in zip(r, widths, strict=True)) for r in rows]
    return "\n".join(lines)


def _markdown_table(header: tuple[str, ...], rows: list[tuple[str, ...]]) -> str:
    out = ["| " + " | ".join(header) + " |", "|" + "---|" * len(header)]
    out += ["| " + " | ".join(c.replace("|", "/") for c in r) + " |" for r in rows]
    return "\n".join(out)


def machine() -> str:
    model = "unknown"
    with Path("/proc/cpuinfo").open() as info:
        for line in info:
            if line.startswith("model name"):
                model = line.split(":", 1)[1].strip()
                break
    pages = os.sysconf("SC_PHYS_PAGES") * os.sysconf("SC_PAGE_SIZE")
    return (f"nproc {os.cpu_count()}, {model}, {pages / 2**30:.1f} GiB memory, "
            f"Python {platform.python_version()}")


def commit() -> str:
    def git(*args: str) -> str:
        return subprocess.run(["git", *args], capture_output=True, text=True,
                              check=False).stdout.strip()
    dirty = " (with uncommitted changes)" if git("status", "--porcelain", "--", "src") else ""
    return (git("rev-parse", "--short", "HEAD") or "unknown") + dirty


def markdown(report: Report, settings_note: str) -> str:
    rows = table(report)
    checks: list[tuple[str, ...]] = [(t.config, t.name, t.verdict, t.why) for t in targets(report)]
    parts = [
        BEGIN,
        f"## Latest run ({report.mode})",
        "",
        f"* Date: {datetime.now(UTC).strftime('%Y-%m-%d %H:%M UTC')}",
        f"* Machine: {machine()}",
        f"* Commit: {commit()}",
        f"* Load generator: {report.driver}",
        f"* {settings_note}",
        "",
        "### Scenarios",
        "",
        _markdown_table(HEADER, rows),
        "",
        "### Targets",
        "",
        _markdown_table(("config", "target", "verdict", "measured"), checks),
        "",
        *report.extra,
        END,
    ]
    return "\n".join(parts)


def write_results(path: Path, section: str) -> None:
    """Replace the generated section of RESULTS.md, keeping the hand-written notes."""
    old = path.read_text() if path.exists() else "# Benchmark results\n\n" + BEGIN + END + "\n"
    if BEGIN in old and END in old:
        head, rest = old.split(BEGIN, 1)
        tail = rest.split(END, 1)[1]
        path.write_text(head + section + tail)
    else:
        path.write_text(old.rstrip() + "\n\n" + section + "\n")
