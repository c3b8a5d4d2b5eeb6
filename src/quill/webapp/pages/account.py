"""My account: change password, two-factor set-up with a QR code, my sessions."""

from __future__ import annotations

from typing import Annotated, Any
from urllib.parse import parse_qs, urlsplit

from fastapi import APIRouter, Path
from starlette.responses import Response

from quill.auth.cookies import AuthCookies
from quill.auth.recovery import WRONG_PASSWORD
from quill.auth.router import get_password_service, get_session_service, get_two_factor_service
from quill.auth.schemas import ChangePasswordIn, TotpDisableIn, TotpVerifyIn
from quill.errors import Invalid
from quill.web.wiring import wiring_of
from quill.webapp.formatting import qr_svg
from quill.webapp.forms import form_values, message_of, validate
from quill.webapp.notices import notice_for
from quill.webapp.rendering import redirect, render
from quill.webapp.security import Page, SignedIn

router = APIRouter(include_in_schema=False)

SessionId = Annotated[str, Path(min_length=1, max_length=128)]
MISMATCH = "The two new passwords are not the same"
PASSWORD_MESSAGES = {"current_password": "Enter your current password",
                     "new_password": "Enter a new password"}
CODE_MESSAGE = "Enter the 6-digit code from the app"


async def _account_page(page: Page, *, status_code: int = 200, **values: Any) -> Response:
    sessions = await (await page.service(get_session_service)).list_sessions()
    return render(page.request, "account.html", {
        "sessions": sessions, "current_session": page.caller.session_id, "errors": {},
        "form": "", **values,
    }, status_code=status_code)


@router.get("/account")
async def account(page: SignedIn, done: str = "") -> Response:
    return await _account_page(page, notice=notice_for(done))


@router.post("/account/password")
async def change_password(page: SignedIn) -> Response:
    values = await form_values(page.request, "current_password", "new_password",
                               "confirm_password")
    confirm = values.pop("confirm_password")
    body, errors = validate(ChangePasswordIn, values, PASSWORD_MESSAGES)
    errors |= {name: PASSWORD_MESSAGES[name] for name in PASSWORD_MESSAGES if not values[name]}
    if body is not None and not errors and confirm != body.new_password:
        errors["confirm_password"] = MISMATCH
    if body is None or errors:
        return await _account_page(page, status_code=400, errors=errors, form="password")
    try:
        await (await page.service(get_password_service)).change_password(
            body.current_password, body.new_password)
    except Invalid as exc:
        # Either the current password was wrong or the policy refused the new one.
        field = "current_password" if message_of(exc) == WRONG_PASSWORD else "new_password"
        return await _account_page(page, status_code=400, errors={field: message_of(exc)},
                                   form="password")
    return redirect("/account", done="password-changed")


def _manual_key(provision_uri: str) -> str:
    """The secret from the otpauth URI, in groups of four for typing into an app."""
    secret = parse_qs(urlsplit(provision_uri).query).get("secret", [""])[0]
    return " ".join(secret[i:i + 4] for i in range(0, len(secret), 4))


async def _setup_page(page: Page, *, status_code: int = 200,
                      errors: dict[str, str] | None = None) -> Response:
    # setup() reuses the pending secret, so showing the page again changes nothing.
    uri = await (await page.service(get_two_factor_service)).setup()
    return render(page.request, "totp_setup.html", {
        "qr": qr_svg(uri, title="QR code for your authenticator app"),
        "manual_key": _manual_key(uri), "errors": errors or {},
    }, status_code=status_code)


@router.post("/account/two-factor")
async def start_two_factor(page: SignedIn) -> Response:
    if page.caller.user.totp_enabled:
        return redirect("/account")
    return await _setup_page(page)


@router.post("/account/two-factor/confirm")
async def confirm_two_factor(page: SignedIn) -> Response:
    values = await form_values(page.request, "code")
    body, _ = validate(TotpVerifyIn, values, {"code": CODE_MESSAGE})
    if body is None or not body.code.strip():
        return await _setup_page(page, status_code=400, errors={"code": CODE_MESSAGE})
    try:
        await (await page.service(get_two_factor_service)).verify(body.code)
    except Invalid as exc:
        return await _setup_page(page, status_code=400, errors={"code": message_of(exc)})
    return redirect("/account", done="totp-enabled")


@router.post("/account/two-factor/disable")
async def disable_two_factor(page: SignedIn) -> Response:
    values = await form_values(page.request, "password")
    body, errors = validate(TotpDisableIn, values, {"password": "Enter your password"})
    if body is None or not body.password:
        return await _account_page(page, status_code=400, form="totp",
                                   errors=errors or {"password": "Enter your password"})
    try:
        await (await page.service(get_two_factor_service)).disable(body.password)
    except Invalid as exc:
        return await _account_page(page, status_code=400, form="totp",
                                   errors={"password": message_of(exc)})
    return redirect("/account", done="totp-disabled")


@router.post("/account/sessions/{session_id}/end")
async def end_session(session_id: SessionId, page: SignedIn) -> Response:
    await (await page.service(get_session_service)).revoke_session(session_id)
    if session_id != page.caller.session_id:
        return redirect("/account", done="session-ended")
    response = redirect("/sign-in", done="signed-out")
    wiring_of(page.request).get(AuthCookies).clear(response)
    return response
