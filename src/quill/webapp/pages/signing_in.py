"""Sign in (password, then a two-factor code when the account has it on) and sign out.

The same LoginService, rate limits, audit entries and cookies as ``/api/auth/login``.
"""

from __future__ import annotations

from typing import Any

from fastapi import APIRouter, Request
from starlette.responses import Response

from quill.auth.cookies import AuthCookies
from quill.auth.ratelimit import RateLimiter
from quill.auth.router import get_login_service, get_session_service
from quill.auth.schemas import LoginIn
from quill.auth.service import INVALID_TOTP, TWO_FACTOR_REQUIRED, LoginAttempt
from quill.errors import QuillError, RateLimited
from quill.web.deps import DbSession, get_request_auditor
from quill.web.wiring import wiring_of
from quill.webapp.forms import FORM_ERROR, form_values, validate
from quill.webapp.notices import notice_for
from quill.webapp.rendering import redirect, render, safe_next
from quill.webapp.security import AnonymousForm, SignedIn

router = APIRouter(include_in_schema=False)

WRONG_CREDENTIALS = "The username or password is not right."
WRONG_CODE = "That code is not right, or it was already used. Enter the current code."
FIELD_MESSAGES = {"username": "Enter your username", "password": "Enter your password",
                  "totp_code": "Enter the 6-digit code"}


def too_many_attempts(error: RateLimited) -> str:
    wait = (error.headers or {}).get("Retry-After", "60")
    return f"Too many attempts. Wait {wait} seconds, then try again."


def _sign_in_page(request: Request, values: dict[str, Any], status_code: int = 200
                  ) -> Response:
    context = {"username": "", "password": "", "step": "password", "errors": {}, "next": "/",
               "notice": "", **values}
    return render(request, "sign_in.html", context, status_code=status_code)


@router.get("/sign-in")
async def sign_in_form(request: Request, _form: AnonymousForm, next: str = "",
                       done: str = "") -> Response:
    return _sign_in_page(request, {"next": safe_next(next), "notice": notice_for(done)})


@router.post("/sign-in")
async def sign_in(request: Request, _form: AnonymousForm, db: DbSession) -> Response:
    values = await form_values(request, "username", "password", "totp_code", "next")
    target = safe_next(values.pop("next"))
    step = "code" if values["totp_code"] else "password"
    kept = {"username": values["username"], "next": target, "step": step}
    body, errors = validate(LoginIn, {**values, "totp_code": values["totp_code"] or None},
                            FIELD_MESSAGES)
    errors |= {name: FIELD_MESSAGES[name] for name in ("username", "password")
               if not values[name]}
    if body is None or errors:
        return _sign_in_page(request, {**kept, "errors": errors}, 400)
    wiring = wiring_of(request)
    limiter = wiring.get(RateLimiter)
    try:
        await limiter.check_login(request, body.username)
    except RateLimited as exc:
        return _sign_in_page(request, {
            **kept, "errors": {FORM_ERROR: too_many_attempts(exc)},
            "password": body.password if step == "code" else ""}, 429)
    service = await get_login_service(request=request, db=db,
                                      auditor=await get_request_auditor(request, db))
    outcome = await service.login(LoginAttempt(
        username=body.username, password=body.password, totp_code=body.totp_code,
        user_agent=request.headers.get("user-agent", ""), ip=limiter.client(request)))
    if isinstance(outcome, QuillError):
        return _failed(request, outcome, body, kept)
    response = redirect(target)
    wiring.get(AuthCookies).set(response, outcome.tokens)
    return response


def _failed(request: Request, outcome: QuillError, body: LoginIn, kept: dict[str, str]
            ) -> Response:
    # The password goes back only into the code step's hidden field, and only once it was
    # right: the API signs in with all three in one request, and so does this form.
    code_step = {**kept, "step": "code", "password": body.password}
    if outcome.detail == TWO_FACTOR_REQUIRED:
        return _sign_in_page(request, code_step)
    if outcome.detail == INVALID_TOTP:
        return _sign_in_page(request, {**code_step, "errors": {"totp_code": WRONG_CODE}}, 400)
    return _sign_in_page(request, {**kept, "step": "password",
                                   "errors": {FORM_ERROR: WRONG_CREDENTIALS}}, 400)


@router.post("/sign-out")
async def sign_out(page: SignedIn) -> Response:
    service = await page.service(get_session_service)
    await service.logout()
    response = redirect("/sign-in", done="signed-out")
    wiring_of(page.request).get(AuthCookies).clear(response)
    return response
