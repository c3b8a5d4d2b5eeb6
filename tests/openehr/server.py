"""Serve an app over a real loopback socket with uvicorn, in a background thread."""

from __future__ import annotations

import asyncio
import socket
import threading
from collections.abc import AsyncIterator
from contextlib import asynccontextmanager

import uvicorn
from fastapi import FastAPI

SERVICE_TOKEN = "facade-service-token-for-tests-0123456789"


@asynccontextmanager
async def served(app: FastAPI) -> AsyncIterator[str]:
    """Yield the base URL of ``app`` served on a free port; stop the server afterwards.

    The socket is listening before the thread starts, so early requests wait in the
    backlog instead of failing.
    """
    sock = socket.socket(socket.AF_INET, socket.SOCK_STREAM)
    sock.bind(("127.0.0.1", 0))
    sock.listen(64)
    port = sock.getsockname()[1]
    config = uvicorn.Config(app, log_level="warning", lifespan="on", log_config=None)
    server = uvicorn.Server(config)
    thread = threading.Thread(target=server.run, kwargs={"sockets": [sock]}, daemon=True)
    thread.start()
    try:
        yield f"http://127.0.0.1:{port}"
    finally:
        server.should_exit = True
        await asyncio.to_thread(thread.join)
        sock.close()
