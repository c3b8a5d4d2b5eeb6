"""What every page shares: headers, the sign-in redirect, CSRF on every form, error pages
for page routes (JSON stays JSON on the API), and the patient 404 helper."""

from __future__ import annotations

import re

import pytest
from fastapi import APIRouter, Depends, FastAPI
from starlette.requests import Request
from starlette.responses import Response

from quill.web.clinical import require_clinical_services
from quill.webapp.rendering import TEMPLATES_DIR, render, safe_next
from quill.webapp.security import VisiblePatient
from tests.auth.conftest import AppFactory
from tests.helpers import make_organisation, make_user
from tests.webapp.support import assert_page_headers, browser, form_token, signed_in

SIGNED_IN_PAGES = ["/", "/account", "/threads", "/threads/new", "/account/notifications"]
PUBLIC_PAGES = ["/sign-in", "/forgot-password", "/reset-password?token=abc", "/register"]
# Every form a signed-in page posts to (the session id need not exist: CSRF comes first).
SIGNED_IN_FORMS = ["/sign-out", "/account/password", "/account/two-factor",
                   "/account/two-factor/confirm", "/account/two-factor/disable",
                   "/account/sessions/some-id/end", "/threads/new", "/threads/1/messages",
                   "/threads/1/status", "/threads/1/participants", "/threads/1/join",
                   "/my-record/access/1/withdraw", "/accept-invite"]
PUBLIC_FORMS = ["/sign-in", "/forgot-password", "/reset-password", "/register",
                "/accept-invite"]


async def test_every_page_renders_with_strict_csp_and_no_store(app: FastAPI) -> None:
    await make_user(app, "page-viewer", level="staff", profession="doctor")
    async with signed_in(app, "page-viewer") as http:
        for path in SIGNED_IN_PAGES:
            response = await http.get(path)
            assert response.status_code == 200, path
            assert response.headers["content-type"].startswith("text/html")
            assert_page_headers(response)
            assert '<meta name="csrf-token" content="' in response.text
            assert 'action="/sign-out"' in response.text
    async with browser(app) as anonymous:
        for path in PUBLIC_PAGES:
            response = await anonymous.get(path)
            assert response.status_code == 200, path
            assert_page_headers(response)
            assert form_token(response)


async def test_signed_out_visitors_are_sent_to_sign_in_and_back(app: FastAPI) -> None:
    async with browser(app) as http:
        home = await http.get("/")
        assert home.status_code == 303
        assert home.headers["location"] == "/sign-in"
        account = await http.get("/account?done=x")
        assert account.headers["location"] == "/sign-in?next=%2Faccount%3Fdone%3Dx"
        assert_page_headers(account)
        # An htmx request cannot follow a redirect to a full page: it is told where to go.
        swap = await http.get("/account", headers={"HX-Request": "true"})
        assert swap.status_code == 401
        assert swap.headers["hx-redirect"] == "/sign-in"
        # A stale cookie is the same as none.
        http.cookies.set("access_token", "not-a-token")
        assert (await http.get("/")).headers["location"] == "/sign-in"


async def test_every_form_is_refused_without_its_csrf_token(app: FastAPI) -> None:
    await make_user(app, "csrf-page", level="staff", profession="doctor")
    async with signed_in(app, "csrf-page") as http:
        for path in SIGNED_IN_FORMS:
            for data in ({}, {"csrf_token": "forged"}):
                response = await http.post(path, data=data)
                assert response.status_code == 403, (path, data)
                assert "You cannot do that" in response.text
                assert_page_headers(response)
            forged_header = await http.post(path, headers={"X-CSRF-Token": "forged"})
            assert forged_header.status_code == 403
        # Still signed in: nothing above took effect.
        assert (await http.get("/account")).status_code == 200
    async with browser(app) as anonymous:
        for path in PUBLIC_FORMS:
            await anonymous.get("/sign-in")  # holds the form cookie, but sends no token
            response = await anonymous.post(path, data={"username": "x", "password": "y"})
            assert response.status_code == 403, path


async def test_an_anonymous_form_token_only_works_with_its_own_cookie(app: FastAPI) -> None:
    async with browser(app) as first, browser(app) as second:
        token = form_token(await first.get("/sign-in"))
        await second.get("/sign-in")
        stolen = await second.post("/sign-in", data={"csrf_token": token, "username": "a",
                                                      "password": "b"})
        assert stolen.status_code == 403
        own = await first.post("/sign-in", data={"csrf_token": token, "username": "a",
                                                  "password": "b"})
        assert own.status_code == 400


async def test_htmx_requests_may_send_the_token_as_a_header(app: FastAPI) -> None:
    await make_user(app, "htmx-user", level="staff", profession="doctor")
    async with signed_in(app, "htmx-user") as http:
        token = form_token(await http.get("/account"))
        response = await http.post("/account/two-factor",
                                   headers={"X-CSRF-Token": token, "HX-Request": "true"})
        assert response.status_code == 200
        assert "<svg" in response.text


async def test_error_pages_for_pages_and_json_for_the_api(app: FastAPI) -> None:
    async with browser(app) as http:
        page = await http.get("/no-such-page")
        assert page.status_code == 404
        assert page.headers["content-type"].startswith("text/html")
        assert "Page not found" in page.text
        assert_page_headers(page)
        api = await http.get("/api/no-such-route")
        assert api.status_code == 404
        assert api.json() == {"detail": "Not Found"}
        api_auth = await http.get("/api/auth/me")
        assert api_auth.status_code == 401
        assert api_auth.json() == {"detail": "Not authenticated"}


async def test_patient_pages_are_404_for_whoever_may_not_see_the_patient(
        app: FastAPI) -> None:
    _visible_patient_page(app)
    inside = await make_user(app, "inside", level="staff", profession="doctor")
    await make_user(app, "outside", level="staff", profession="doctor")
    await make_organisation(app, "Surgery", staff=[inside.id], patients=["pat-1"])
    async with signed_in(app, "inside") as http:
        seen = await http.get("/patients/pat-1/test-page")
        assert seen.status_code == 200
        assert "Patient pat-1" in seen.text
        assert (await http.get("/patients/unknown/test-page")).status_code == 404
    async with signed_in(app, "outside") as http:
        hidden = await http.get("/patients/pat-1/test-page")
        assert hidden.status_code == 404
        assert "Page not found" in hidden.text
        assert_page_headers(hidden)


def _visible_patient_page(app: FastAPI) -> None:
    """A page as the patient pages will be: under /patients/{patient_id}, behind the
    clinical switch and the helper. Added to this test's app only."""
    router = APIRouter(dependencies=[Depends(require_clinical_services)])

    @router.get("/patients/{patient_id}/test-page")
    async def patient_page(patient_id: VisiblePatient, request: Request) -> Response:
        return render(request, "error.html", {"title": f"Patient {patient_id}", "text": "",
                                              "status_code": 200})

    del patient_page
    app.router.routes[:0] = router.routes


async def test_a_switched_off_service_is_a_503_page(app_factory: AppFactory) -> None:
    app = await app_factory(clinical_services_enabled=False)
    _visible_patient_page(app)
    await make_user(app, "off-user", level="staff", profession="doctor")
    async with signed_in(app, "off-user") as http:
        response = await http.get("/patients/pat-1/test-page")
        assert response.status_code == 503
        assert "Service unavailable" in response.text
        home = await http.get("/")
        assert home.status_code == 200
        assert "Clinical services are switched off" in home.text


@pytest.mark.parametrize(("target", "expected"), [
    ("/account", "/account"), ("/patients?q=smith", "/patients?q=smith"),
    ("", "/"), ("https://evil.example", "/"), ("//evil.example", "/"),
    ("/\\evil.example", "/"), ("/api/auth/me", "/"), ("/ok\r\nSet-Cookie: x", "/"),
])
def test_only_local_pages_are_followed_after_sign_in(target: str, expected: str) -> None:
    assert safe_next(target) == expected


INLINE_HANDLER = re.compile(r"\son[a-z]+\s*=", re.IGNORECASE)
INLINE_SCRIPT = re.compile(r"<script(?![^>]*\bsrc=)[^>]*>", re.IGNORECASE)


def test_templates_hold_no_inline_script_style_or_handlers() -> None:
    templates = sorted(TEMPLATES_DIR.glob("**/*.html"))
    assert len(templates) >= 8
    for template in templates:
        text = template.read_text()
        assert "style=" not in text, template.name
        assert "<style" not in text, template.name
        assert not INLINE_HANDLER.search(text), template.name
        assert not INLINE_SCRIPT.search(text), template.name
