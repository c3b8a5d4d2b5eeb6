"""`quill serve` migrates a fresh data directory and answers /api/health over real HTTP; its
parent and worker processes log in one format."""

from __future__ import annotations

import json
import os
import re
import subprocess
import sys
import time
from pathlib import Path

import httpx
import pytest

from tests.loopback import free_port


def _wait_for_health(url: str, process: subprocess.Popen[str]) -> httpx.Response:
    for _ in range(300):
        if process.poll() is not None:
            raise AssertionError(f"server exited early with {process.returncode}")
        try:
            return httpx.get(url, timeout=1.0)
        except httpx.TransportError:
            time.sleep(0.1)
    raise AssertionError("server did not answer within 30 s")


def test_serve_fresh_data_dir(tmp_path: Path) -> None:
    port = free_port()
    env = {key: value for key, value in os.environ.items() if not key.startswith("QUILL_")}
    env["QUILL_DATA_DIR"] = str(tmp_path / "data")
    process = subprocess.Popen(
        [sys.executable, "-m", "quill", "serve", "--port", str(port)],
        env=env, stdout=subprocess.PIPE, stderr=subprocess.STDOUT, text=True,
    )
    try:
        response = _wait_for_health(f"http://127.0.0.1:{port}/api/health", process)
        assert response.status_code == 200
        assert response.json()["status"] == "healthy"
        assert (tmp_path / "data" / "quill.db").exists()
        docs = httpx.get(f"http://127.0.0.1:{port}/api/docs", timeout=5.0)
        assert docs.status_code == 200
    finally:
        process.terminate()
        output, _ = process.communicate(timeout=30)
    assert '"route": "/api/health"' in output, output[-2000:]


_TEXT_LINE = re.compile(r"\d{4}-\d\d-\d\d \d\d:\d\d:\d\d,\d{3} (DEBUG|INFO|WARNING|ERROR|CRITICAL)"
                        r" +(?P<logger>[\w.]+): (?P<message>.*)")


def _parsed(line: str, log_format: str) -> tuple[str, str]:
    """The logger and message of one line, which must be in ``log_format``."""
    if log_format == "json":
        payload = json.loads(line)
        assert {"time", "level", "logger", "message"} <= payload.keys(), line
        assert "color_message" not in payload, line
        return payload["logger"], payload["message"]
    match = _TEXT_LINE.fullmatch(line)
    assert match is not None, line
    return match["logger"], match["message"]


@pytest.mark.parametrize("log_format", ["json", "text"])
def test_every_process_logs_in_one_format_without_library_internals(
        tmp_path: Path, log_format: str) -> None:
    port = free_port()
    env = {key: value for key, value in os.environ.items() if not key.startswith("QUILL_")}
    env["QUILL_DATA_DIR"] = str(tmp_path / "data")
    if log_format == "text":
        env["QUILL_LOG_FORMAT"] = "text"  # json is the default when stderr is not a terminal
    process = subprocess.Popen(
        [sys.executable, "-m", "quill", "serve", "--port", str(port), "--workers", "2"],
        env=env, stdout=subprocess.DEVNULL, stderr=subprocess.PIPE, text=True,
    )
    try:
        assert _wait_for_health(f"http://127.0.0.1:{port}/api/health",
                                process).status_code == 200
    finally:
        process.terminate()
        _, output = process.communicate(timeout=60)
    lines = [_parsed(line, log_format) for line in output.splitlines()]
    loggers = {logger for logger, _ in lines}
    assert not any(logger.startswith("alembic") for logger in loggers), output
    # Lines from the parent and from the worker processes, uvicorn's and ours.
    uvicorn_lines = {message for logger, message in lines if logger == "uvicorn.error"}
    assert f"Started parent process [{process.pid}]" in uvicorn_lines, output
    assert any(message.startswith("Started server process") for message in uvicorn_lines), output
    assert "quill.request" in loggers, output  # the request line of the health check
