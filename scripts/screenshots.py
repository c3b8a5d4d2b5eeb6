"""Screenshots of the web app's pages at desktop and phone width (``make screenshots``).

Serves a throwaway instance (``quill seed-demo`` then ``quill serve`` on a free loopback
port, with its own SQLite database in a temporary directory), signs in as a demo
clinician, a demo patient and the demo relative in the OS's Chromium, and saves one PNG
per page and width into docs/screenshots/. Later pages add a line to PAGES.
"""

from __future__ import annotations

import os
import secrets
import shutil
import socket
import subprocess
import sys
import tempfile
import time
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from pathlib import Path
from typing import Any

import httpx
from playwright.sync_api import BrowserContext, Page, sync_playwright

OUT = Path(__file__).resolve().parents[1] / "docs" / "screenshots"
# Who signs in for each kind of page; None: nobody.
PEOPLE = {"clinician": "dr.cardio", "patient": "patient.alice", "relative": "relative.rita",
          "admin": "demo.admin"}
DEMO_PASSWORD = "screenshots only " + secrets.token_hex(4)
WIDTHS = {"desktop": {"width": 1280, "height": 800}, "phone": {"width": 390, "height": 844}}


def _open_two_factor(page: Page) -> None:
    page.get_by_role("button", name="Set up two-factor").click()


def _open_demo_thread(page: Page) -> None:
    page.get_by_role("link", name="Echo follow-up").click()
    page.wait_for_selector("#messages")


# (file name, path to open, what to do there before the shot, who is signed in)
PAGES: list[tuple[str, str, Callable[[Page], None] | None, str | None]] = [
    ("sign-in", "/sign-in", None, None),
    ("forgot-password", "/forgot-password", None, None),
    ("register", "/register", None, None),
    ("home", "/", None, "clinician"),
    ("account", "/account", None, "clinician"),
    ("two-factor-setup", "/account", _open_two_factor, "clinician"),
    ("patients", "/patients", None, "clinician"),
    ("patient", "/patients/demo-patient-1", None, "clinician"),
    ("threads", "/threads", None, "clinician"),
    ("thread", "/threads", _open_demo_thread, "clinician"),
    ("patient-home", "/", None, "patient"),
    ("patient-record", "/my-record", None, "patient"),
    ("relative-home", "/", None, "relative"),
    ("relative-patients", "/patients", None, "relative"),
]


def _first_user(page: Page) -> None:
    page.locator("#user-table a").first.click()
    page.wait_for_load_state()


def _first_organisation(page: Page) -> None:
    page.locator("#organisation-table a").first.click()
    page.wait_for_load_state()


# The administrator's pages, shot as the demo admin (file name, path, action).
ADMIN_PAGES: list[tuple[str, str, Callable[[Page], None] | None]] = [
    ("admin-users", "/admin/users", None),
    ("admin-user", "/admin/users", _first_user),
    ("admin-organisation", "/admin/organisations", _first_organisation),
    ("admin-patients", "/admin/patients", None),
    ("admin-audit", "/admin/audit", None),
]


def _free_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        port: int = sock.getsockname()[1]
        return port


@contextmanager
def demo_server() -> Iterator[str]:
    quill = shutil.which("quill") or str(Path(sys.executable).with_name("quill"))
    with tempfile.TemporaryDirectory() as data:
        port = _free_port()
        env = {**os.environ, "QUILL_ENV": "development",
               "QUILL_DATABASE_URL": f"sqlite:///{data}/quill.db", "QUILL_DATA_DIR": data,
               "QUILL_SECRET_KEY": secrets.token_urlsafe(48),
               "QUILL_AUDIT_KEY": secrets.token_urlsafe(48),
               "QUILL_DEMO_PASSWORD": DEMO_PASSWORD, "QUILL_REDIS_URL": "",
               "QUILL_LOG_LEVEL": "WARNING", "QUILL_RATE_LIMIT_LOGIN": "100/minute",
               "QUILL_PUBLIC_BASE_URL": f"http://127.0.0.1:{port}"}
        # Fixed argument lists naming our own console script.
        subprocess.run([quill, "seed-demo"], env=env, check=True,  # noqa: S603
                       capture_output=True, timeout=300)
        server = subprocess.Popen([quill, "serve", "--port", str(port)], env=env)  # noqa: S603
        url = f"http://127.0.0.1:{port}"
        try:
            _wait_until_up(url, server)
            yield url
        finally:
            server.terminate()
            server.wait(timeout=30)


def _wait_until_up(url: str, server: subprocess.Popen[Any]) -> None:
    deadline = time.monotonic() + 120
    while time.monotonic() < deadline:
        if server.poll() is not None:
            raise SystemExit("quill serve stopped before it answered")
        try:
            if httpx.get(f"{url}/api/health", timeout=2).status_code == 200:
                return
        except httpx.TransportError:
            pass
        time.sleep(0.2)
    raise SystemExit("quill serve did not answer within two minutes")


def _sign_in(page: Page, url: str, username: str) -> None:
    page.goto(f"{url}/sign-in")
    page.get_by_label("Username").fill(username)
    page.get_by_label("Password").fill(DEMO_PASSWORD)
    page.get_by_role("button", name="Sign in").click()
    page.wait_for_url(f"{url}/")


def _shoot(page: Page, url: str, path: str, action: Callable[[Page], None] | None,
           target: Path, *, full_page: bool = True) -> None:
    page.goto(f"{url}{path}")
    if action is not None:
        action(page)
    page.screenshot(path=str(target), full_page=full_page)
    print(f"saved {target.relative_to(OUT.parents[1])}")
    page.close()


def main(argv: list[str]) -> int:
    """Every page, or only those named on the command line (``screenshots.py thread``)."""
    wanted = set(argv)
    chromium = shutil.which("chromium") or shutil.which("chromium-browser")
    if chromium is None:
        raise SystemExit("Chromium is not installed: run `make browser` (as root)")
    OUT.mkdir(parents=True, exist_ok=True)
    with demo_server() as url, sync_playwright() as playwright:
        browser = playwright.chromium.launch(executable_path=chromium, args=["--no-sandbox"])
        for width_name, viewport in WIDTHS.items():
            anonymous = browser.new_context(viewport=viewport)  # type: ignore[arg-type]
            contexts: dict[str, BrowserContext] = {}
            for who, username in PEOPLE.items():
                contexts[who] = browser.new_context(viewport=viewport)  # type: ignore[arg-type]
                _sign_in(contexts[who].new_page(), url, username)
            for name, path, action, person in PAGES:
                if wanted and name not in wanted:
                    continue
                page = (contexts[person] if person else anonymous).new_page()
                _shoot(page, url, path, action, OUT / f"{name}-{width_name}.png")
            for name, path, action in ADMIN_PAGES:
                if wanted and name not in wanted:
                    continue
                # The first screen only: admin tables run long, and the files stay small.
                _shoot(contexts["admin"].new_page(), url, path, action,
                       OUT / f"{name}-{width_name}.png", full_page=False)
            anonymous.close()
            for context in contexts.values():
                context.close()
        browser.close()
    return 0


if __name__ == "__main__":
    sys.exit(main(sys.argv[1:]))
