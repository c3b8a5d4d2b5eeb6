"""Browser tests: a real Quill server on a loopback port and the OS's Chromium.

``live_server`` runs the app under uvicorn in a thread of its own, with its own event loop,
against the test database (SQLite and PostgreSQL, as every app test); ``live_server.call``
runs a coroutine on that loop, so tests create users with the usual helpers
(``live_server.call(make_user, "ann", level="staff")``). ``browser`` is Chromium from the
OS packages, driven by Playwright; each test opens its own contexts (one per person).

Chromium comes from ``make browser`` (as root it installs the OS package); it is never
downloaded by Playwright. Without it the tests skip with the reason, except under
``CI=true``, where a missing browser fails them.
"""

from __future__ import annotations

import asyncio
import os
import shutil
import socket
import threading
import time
from collections.abc import Awaitable, Callable, Iterator
from concurrent.futures import Future
from pathlib import Path
from typing import ParamSpec, TypeVar

import pytest
import uvicorn
from fastapi import FastAPI
from playwright.sync_api import Browser, BrowserContext, expect

from quill.app import create_app
from quill.db.engine import make_engine
from tests.conftest import make_settings
from tests.databases import empty_all_tables

P = ParamSpec("P")
T = TypeVar("T")
CHROMIUM_NAMES = ("chromium", "chromium-browser")
STARTUP_SECONDS = 60.0
# Generous waits: several test workers share two cores. Playwright polls, so a fast run
# is not slowed down by them.
WAIT_MS = 30_000
expect.set_options(timeout=WAIT_MS)


def chromium_path() -> str | None:
    for name in CHROMIUM_NAMES:
        found = shutil.which(name)
        if found:
            return found
    return None


class LiveServer:
    """Quill served over real HTTP on 127.0.0.1, in a background thread."""

    def __init__(self, app: FastAPI, sock: socket.socket) -> None:
        self.app = app
        self._socket = sock
        port = sock.getsockname()[1]
        self.url = f"http://127.0.0.1:{port}"
        self._server = uvicorn.Server(uvicorn.Config(app, log_level="warning",
                                                     lifespan="on"))
        self._loop = asyncio.new_event_loop()
        self._thread = threading.Thread(target=self._run, name="quill-live-server",
                                        daemon=True)

    def _run(self) -> None:
        asyncio.set_event_loop(self._loop)
        self._loop.run_until_complete(self._server.serve(sockets=[self._socket]))

    def start(self) -> None:
        self._thread.start()
        deadline = time.monotonic() + STARTUP_SECONDS
        while not self._server.started:
            if not self._thread.is_alive() or time.monotonic() > deadline:
                raise RuntimeError("the live Quill server did not start")
            time.sleep(0.05)

    def call(self, function: Callable[P, Awaitable[T]], *args: P.args,
             **kwargs: P.kwargs) -> T:
        """Run ``function(*args, **kwargs)`` on the server's loop and wait for it."""

        async def run() -> T:
            return await function(*args, **kwargs)

        future: Future[T] = asyncio.run_coroutine_threadsafe(run(), self._loop)
        return future.result(timeout=120)

    def stop(self) -> None:
        self._server.should_exit = True
        self._thread.join(timeout=60)
        self._loop.close()


def open_context(browser: Browser) -> BrowserContext:
    """A fresh browser profile (one per person in a journey) with generous waits."""
    context = browser.new_context()
    context.set_default_timeout(WAIT_MS)
    return context


def require_chromium() -> str:
    """Chromium's path; otherwise skip with the reason, or fail under CI=true."""
    path = chromium_path()
    if path is None:
        reason = "Chromium is not installed; `make browser` installs it (as root)"
        if os.environ.get("CI") == "true":
            pytest.fail(f"{reason}. CI=true: browser tests must run")
        pytest.skip(reason)
    return path


@pytest.fixture(scope="session")
def chromium() -> str:
    return require_chromium()


@pytest.fixture
def browser(chromium: str) -> Iterator[Browser]:
    """Per test: Playwright's sync driver holds an event loop on this thread while it
    runs, and pytest-asyncio must be able to tear the session's async fixtures down
    between tests."""
    from playwright.sync_api import sync_playwright

    with sync_playwright() as playwright:
        launched = playwright.chromium.launch(executable_path=chromium, headless=True,
                                              args=["--no-sandbox"])
        try:
            yield launched
        finally:
            launched.close()


@pytest.fixture
def live_server(database_url: str, tmp_path: Path, chromium: str) -> Iterator[LiveServer]:
    """A fresh server per test; every table is emptied afterwards."""
    sock = socket.socket(socket.AF_INET, socket.SOCK_STREAM)
    sock.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
    sock.bind(("127.0.0.1", 0))
    port = sock.getsockname()[1]
    settings = make_settings(database_url, tmp_path,
                             public_base_url=f"http://127.0.0.1:{port}")
    server = LiveServer(create_app(settings), sock)
    server.start()
    try:
        yield server
    finally:
        try:
            server.call(_empty_tables, database_url)
        finally:
            server.stop()
            sock.close()


async def _empty_tables(database_url: str) -> None:
    engine = make_engine(database_url)
    try:
        await empty_all_tables(engine)
    finally:
        await engine.dispose()
