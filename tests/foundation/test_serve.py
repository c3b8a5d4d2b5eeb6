"""`quill serve` migrates a fresh data directory and answers /api/health over real HTTP."""

from __future__ import annotations

import os
import socket
import subprocess
import sys
import time
from pathlib import Path

import httpx


def _free_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return int(sock.getsockname()[1])


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
    port = _free_port()
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
