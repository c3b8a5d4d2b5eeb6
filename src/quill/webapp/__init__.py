"""The web app: server-rendered pages at ``/`` over the same services as the JSON API.

``install(app)`` adds the static files, the page routes and the page-aware error
handlers; create_app calls it after the API routers. See docs/webapp.md.
"""

from __future__ import annotations

from fastapi import APIRouter, FastAPI
from starlette.staticfiles import StaticFiles

from quill.web.routing import mount
from quill.webapp.errors import install_page_errors
from quill.webapp.pages import (
    account,
    admin,
    admin_audit,
    admin_organisations,
    admin_patients,
    admin_users,
    home,
    joining,
    my_record,
    notifications,
    patient,
    patient_actions,
    patient_letters,
    patients,
    recovery,
    signing_in,
    threads,
)
from quill.webapp.rendering import STATIC_DIR

PAGE_ROUTERS: tuple[APIRouter, ...] = (
    signing_in.router, recovery.router, home.router, account.router,
    patients.router, patient.router, patient_letters.router, patient_actions.router,
    threads.router, notifications.router, joining.router, my_record.router,
    admin.router, admin_users.router, admin_organisations.router, admin_patients.router,
    admin_audit.router,
)
# Answer without a signed-in caller; every other page sends a visitor to sign in.
PUBLIC_PAGES: frozenset[tuple[str, str]] = frozenset({
    ("GET", "/sign-in"), ("POST", "/sign-in"),
    ("GET", "/forgot-password"), ("POST", "/forgot-password"),
    ("GET", "/reset-password"), ("POST", "/reset-password"),
    ("GET", "/sw.js"),  # the service worker script; browsers fetch it to update it
    ("GET", "/register"), ("POST", "/register"),
    # Signed in or not: an invite for a new address makes the account.
    ("GET", "/accept-invite"), ("POST", "/accept-invite"),
})


def install(app: FastAPI) -> None:
    install_page_errors(app)
    for router in PAGE_ROUTERS:
        mount(app, router)
    app.mount("/static", StaticFiles(directory=STATIC_DIR), name="static")
