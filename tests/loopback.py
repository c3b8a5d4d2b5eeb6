"""Loopback serving for tests: an ASGI app with uvicorn inside the test's event loop, a
free port, and waiting for a `quill serve` process to answer."""

from __future__ import annotations

import asyncio
import socket
import subprocess
from collections.abc import AsyncIterator
from contextlib import asynccontextmanager

import httpx
import uvicorn
from starlette.types import ASGIApp

STARTUP_TIMEOUT_SECONDS = 10.0
# Generous: a loaded CI machine can take many seconds just to import a served app.
PROCESS_STARTUP_SECONDS = 120.0


def free_port(host: str = "127.0.0.1") -> int:
    with socket.socket() as sock:
        sock.bind((host, 0))
        return int(sock.getsockname()[1])


async def wait_until_healthy(http: httpx.AsyncClient, process: subprocess.Popen[bytes]) -> None:
    """Poll ``GET /api/health`` on ``http`` until it answers 200; fail if the process exits
    first or it does not answer within ``PROCESS_STARTUP_SECONDS``."""
    loop = asyncio.get_running_loop()
    deadline = loop.time() + PROCESS_STARTUP_SECONDS
    while loop.time() < deadline:
        if process.poll() is not None:
            raise AssertionError(f"server exited with {process.returncode} before answering")
        try:
            if (await http.get("/api/health")).status_code == 200:
                return
        except httpx.TransportError:
            pass
        await asyncio.sleep(0.1)
    raise AssertionError(f"server did not answer within {PROCESS_STARTUP_SECONDS:.0f} s")


@asynccontextmanager
async def serve(app: ASGIApp, *, host: str = "127.0.0.1", port: int = 0
                ) -> AsyncIterator[str]:
    """Yield the base URL (``http://<host>:<port>``) while uvicorn serves ``app``; port 0
    picks a free one."""
    sock = socket.socket(socket.AF_INET, socket.SOCK_STREAM)
    sock.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
    sock.bind((host, port))
    port = sock.getsockname()[1]
    config = uvicorn.Config(app, lifespan="off", log_level="warning",
                            timeout_graceful_shutdown=2)
    server = uvicorn.Server(config)
    task = asyncio.create_task(server.serve(sockets=[sock]))
    try:
        async with asyncio.timeout(STARTUP_TIMEOUT_SECONDS):
            while not server.started:
                if task.done():
                    task.result()
                await asyncio.sleep(0.01)
        yield f"http://{host}:{port}"
    finally:
        server.should_exit = True
        await task
        sock.close()
