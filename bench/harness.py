"""Throwaway databases and servers for the benchmark: a temp SQLite file or a uniquely named
PostgreSQL database (dropped afterwards), and uvicorn on a free loopback port pinned to the
server core."""

from __future__ import annotations

import contextlib
import os
import signal
import socket
import subprocess
import sys
import time
import uuid
from collections.abc import AsyncIterator, Iterator
from dataclasses import dataclass
from pathlib import Path

import asyncpg
import httpx
from sqlalchemy.engine import make_url

SERVER_CORE = "0"
PG_ADMIN_URL = os.environ.get("QUILL_BENCH_PG_URL", "postgresql://postgres@127.0.0.1:5432/postgres")
SERVICE_TOKEN = "bench-service-token-" + "x" * 24  # loopback-only bench server
SECRET_KEY = "bench-secret-key-" + uuid.uuid4().hex + uuid.uuid4().hex
# Logins per minute the bench server allows per client and per username. The default
# (5/minute) would turn a storm into 429s; the storm runs just under this ceiling.
LOGIN_CEILING_PER_MINUTE = 600


def free_port() -> int:
    with socket.socket() as probe:
        probe.bind(("127.0.0.1", 0))
        port: int = probe.getsockname()[1]
        return port


def _dsn(url: str) -> str:
    return make_url(url).set(drivername="postgresql").render_as_string(hide_password=False)


async def postgres_available() -> bool:
    try:
        conn = await asyncpg.connect(_dsn(PG_ADMIN_URL), timeout=5)
    except (OSError, asyncpg.PostgresError):
        return False
    await conn.close()
    return True


@contextlib.asynccontextmanager
async def database(backend: str, workdir: Path) -> AsyncIterator[str]:
    """A fresh empty database URL for ``backend``; removed afterwards."""
    if backend == "sqlite":
        path = workdir / f"bench-{uuid.uuid4().hex[:8]}.db"
        try:
            yield f"sqlite:///{path}"
        finally:
            for suffix in ("", "-wal", "-shm"):
                Path(f"{path}{suffix}").unlink(missing_ok=True)  # noqa: ASYNC240 - tiny
        return
    name = f"quill_bench_{uuid.uuid4().hex[:12]}"
    admin = await asyncpg.connect(_dsn(PG_ADMIN_URL), timeout=5)
    try:
        await admin.execute(f'CREATE DATABASE "{name}"')
    finally:
        await admin.close()
    try:
        yield make_url(PG_ADMIN_URL).set(database=name).render_as_string(hide_password=False)
    finally:
        admin = await asyncpg.connect(_dsn(PG_ADMIN_URL), timeout=5)
        try:
            await admin.execute(f'DROP DATABASE IF EXISTS "{name}" WITH (FORCE)')
        finally:
            await admin.close()


def server_env(database_url: str, workdir: Path) -> dict[str, str]:
    env = {k: v for k, v in os.environ.items() if not k.startswith("QUILL_")}
    env.update({
        "QUILL_ENV": "development",
        "QUILL_DATABASE_URL": database_url,
        "QUILL_DATA_DIR": str(workdir / "data"),
        "QUILL_SECRET_KEY": SECRET_KEY,
        "QUILL_SERVICE_TOKEN": SERVICE_TOKEN,
        "QUILL_FHIR_FACADE_ENABLED": "true",
        "QUILL_RATE_LIMIT_LOGIN": f"{LOGIN_CEILING_PER_MINUTE}/minute",
        "QUILL_LOG_LEVEL": os.environ.get("QUILL_BENCH_LOG_LEVEL", "INFO"),
    })
    return env


@dataclass
class Server:
    process: subprocess.Popen[bytes]
    base_url: str
    log_path: Path

    @property
    def pid(self) -> int:
        return self.process.pid


def _wait_ready(server: Server, path: str, seconds: float = 60) -> None:
    deadline = time.monotonic() + seconds
    while time.monotonic() < deadline:
        if server.process.poll() is not None:
            tail = server.log_path.read_text(errors="replace")[-3000:]
            raise RuntimeError(f"server exited with {server.process.returncode}:\n{tail}")
        with contextlib.suppress(httpx.HTTPError):
            if httpx.get(server.base_url + path, timeout=2).status_code < 500:
                return
        time.sleep(0.2)
    raise RuntimeError(f"server did not answer {path} within {seconds} s")


@contextlib.contextmanager
def serve(app: str, workers: int, env: dict[str, str], log_path: Path) -> Iterator[Server]:
    """uvicorn (via bench.serve) pinned to the server core; stopped with SIGTERM after."""
    port = free_port()
    command = ["taskset", "-c", SERVER_CORE, sys.executable, "-m", "bench.serve", app,
               "--port", str(port), "--workers", str(workers)]
    log_path.parent.mkdir(parents=True, exist_ok=True)
    with log_path.open("wb") as log:
        process = subprocess.Popen(command, env=env, stdout=log, stderr=subprocess.STDOUT)
    server = Server(process, f"http://127.0.0.1:{port}", log_path)
    try:
        _wait_ready(server, "/bare" if app == "bare" else "/api/health")
        yield server
    finally:
        process.send_signal(signal.SIGTERM)
        try:
            process.wait(timeout=20)
        except subprocess.TimeoutExpired:
            process.kill()
            process.wait()


def _rss_kib(pid: int) -> int:
    with contextlib.suppress(OSError), open(f"/proc/{pid}/status") as status:
        for line in status:
            if line.startswith("VmRSS:"):
                return int(line.split()[1])
    return 0


def _children(pid: int) -> list[int]:
    found: list[int] = []
    with contextlib.suppress(OSError):
        for task in Path(f"/proc/{pid}/task").iterdir():
            found += [int(c) for c in (task / "children").read_text().split()]
    return found


def worker_rss_mib(server: Server) -> float:
    """The largest resident set among the server's workers (the process itself when it
    serves alone), in MiB; 0 where /proc cannot tell."""
    workers = _children(server.pid) or [server.pid]
    return max(_rss_kib(pid) for pid in workers) / 1024


def login_token(base_url: str, username: str, password: str) -> str:
    """Log in once through the real route and keep the access token for bearer requests."""
    response = httpx.post(f"{base_url}/api/auth/login",
                          json={"username": username, "password": password}, timeout=30)
    response.raise_for_status()
    token = response.cookies.get("access_token")
    if not token:
        raise RuntimeError("login answered without an access_token cookie")
    return token
