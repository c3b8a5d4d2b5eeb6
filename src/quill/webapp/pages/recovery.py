"""Forgotten password: ask for a link by email, then choose a new password from the link.

The mail's link (built by RecoveryService from QUILL_PUBLIC_BASE_URL) opens
``/reset-password?token=...``, a page that works with JavaScript off.
"""

from __future__ import annotations

from typing import Any

from fastapi import APIRouter, BackgroundTasks, Request
from starlette.responses import Response

from quill.auth.ratelimit import RateLimiter
from quill.auth.recovery import INVALID_RESET_LINK, RecoveryService
from quill.auth.router import get_recovery_service
from quill.auth.schemas import ForgotPasswordIn, ResetPasswordIn
from quill.email.port import send_after_response
from quill.errors import Invalid, RateLimited
from quill.web.deps import DbSession, get_request_auditor
from quill.web.wiring import wiring_of
from quill.webapp.forms import FORM_ERROR, form_values, message_of, validate
from quill.webapp.notices import notice_for
from quill.webapp.pages.signing_in import too_many_attempts
from quill.webapp.rendering import redirect, render
from quill.webapp.security import AnonymousForm

router = APIRouter(include_in_schema=False)

EMAIL_MESSAGE = "Enter your email address, like name@example.org"
PASSWORD_MESSAGES = {"new_password": "Enter a new password", "token": "This link is not valid"}
MISMATCH = "The two passwords are not the same"
EXPIRED_LINK = ("This link has expired or was already used. Ask for a new link from the "
                "forgotten password page.")


async def _service(request: Request, db: DbSession) -> RecoveryService:
    return await get_recovery_service(request=request, db=db,
                                      auditor=await get_request_auditor(request, db))


def _forgot_page(request: Request, *, status_code: int = 200, **values: Any) -> Response:
    return render(request, "forgot_password.html", {"email": "", "errors": {}, **values},
                  status_code=status_code)


@router.get("/forgot-password")
async def forgot_form(request: Request, _form: AnonymousForm, done: str = "") -> Response:
    return _forgot_page(request, notice=notice_for(done))


@router.post("/forgot-password")
async def forgot(request: Request, _form: AnonymousForm, db: DbSession,
                 background: BackgroundTasks) -> Response:
    values = await form_values(request, "email")
    body, errors = validate(ForgotPasswordIn, values, {"email": EMAIL_MESSAGE})
    if body is None or "@" not in body.email:
        return _forgot_page(request, status_code=400, email=values["email"],
                            errors=errors or {"email": EMAIL_MESSAGE})
    limiter = wiring_of(request).get(RateLimiter)
    try:
        await limiter.check("forgot", limiter.limits.forgot, request)
    except RateLimited as exc:
        return _forgot_page(request, status_code=429, email=body.email,
                            errors={FORM_ERROR: too_many_attempts(exc)})
    service = await _service(request, db)
    mail = await service.request_reset(body.email)
    if mail is not None:
        send_after_response(background, service.mailer, mail.to, mail.subject, mail.body)
    # The same answer whether or not an account uses the address.
    return redirect("/forgot-password", done="reset-sent")


def _reset_page(request: Request, token: str, *, status_code: int = 200,
                errors: dict[str, str] | None = None) -> Response:
    return render(request, "reset_password.html", {"token": token, "errors": errors or {}},
                  status_code=status_code)


@router.get("/reset-password")
async def reset_form(request: Request, _form: AnonymousForm, token: str = "") -> Response:
    # The token is checked when the form is sent: looking it up here would tell anyone
    # with a guess whether it is live, and spend nothing.
    return _reset_page(request, token[:200])


@router.post("/reset-password")
async def reset(request: Request, _form: AnonymousForm, db: DbSession) -> Response:
    values = await form_values(request, "token", "new_password", "confirm_password")
    confirm = values.pop("confirm_password")
    body, errors = validate(ResetPasswordIn, values, PASSWORD_MESSAGES)
    if body is not None and not body.new_password:
        errors["new_password"] = PASSWORD_MESSAGES["new_password"]
    elif body is not None and confirm != body.new_password:
        errors["confirm_password"] = MISMATCH
    if body is None or errors:
        return _reset_page(request, values["token"][:200], status_code=400, errors=errors)
    limiter = wiring_of(request).get(RateLimiter)
    try:
        await limiter.check("reset", limiter.limits.reset, request)
        await (await _service(request, db)).reset_password(body.token, body.new_password)
    except RateLimited as exc:
        return _reset_page(request, body.token, status_code=429,
                           errors={FORM_ERROR: too_many_attempts(exc)})
    except Invalid as exc:
        if message_of(exc) == INVALID_RESET_LINK:
            errors = {FORM_ERROR: EXPIRED_LINK}
        else:  # the password policy's own words
            errors = {"new_password": message_of(exc)}
        return _reset_page(request, body.token, status_code=400, errors=errors)
    return redirect("/sign-in", done="password-reset")
