"""Joining Quill: open registration, and accepting an invite from its email link.

Registration is ``/api/auth/register`` as a form: the same AccountService, the same rate
limit and the same audit entry. Accepting an invite is ``/api/accept-invite``: the same
InviteAcceptanceService decides whether an account is made or an existing one (signed in)
gains access, and refuses an expired, used or revoked invite.
"""

from __future__ import annotations

from typing import Any
from urllib.parse import urlencode

from fastapi import APIRouter, Request
from starlette.responses import Response

from quill.auth.accounts import NewAccount
from quill.auth.ratelimit import RateLimiter
from quill.auth.router import get_account_service
from quill.auth.schemas import RegisterIn
from quill.errors import (
    Conflict,
    Forbidden,
    Invalid,
    RateLimited,
    Unauthenticated,
    Unprocessable,
)
from quill.external_access.acceptance import INVALID_INVITE, InviteAcceptanceService
from quill.external_access.router import get_acceptance
from quill.external_access.schemas import AcceptIn
from quill.web.deps import DbSession, get_request_auditor
from quill.web.wiring import wiring_of
from quill.webapp.forms import FORM_ERROR, form_values, message_of, validate
from quill.webapp.pages.signing_in import too_many_attempts
from quill.webapp.rendering import redirect, render
from quill.webapp.security import AnonymousForm, MaybeSignedIn

router = APIRouter(include_in_schema=False)

REGISTER_MESSAGES = {
    "username": ("Enter a username of letters, digits and . _ @ + - only, "
                 "no spaces"),
    "email": "Enter your email address, like name@example.org",
    "password": "Enter a password",
    "full_name": "Enter your name in 200 characters or fewer",
    "organisation_id": "Choose an organisation from the list",
}
ACCEPT_MESSAGES = {"username": REGISTER_MESSAGES["username"],
                   "password": REGISTER_MESSAGES["password"]}
MISMATCH = "The two passwords are not the same"
# Where each refusal of the services belongs on the form.
REGISTER_FIELD_OF = {"Username already exists": "username", "Email already exists": "email",
                     "Organisation not found": "organisation_id"}
TAKEN_USERNAME = "That username is taken. Choose another."
NOT_YOURS = ("This invitation was sent to another account. Sign out, then sign in as the "
             "account that uses the invited email address.")


def _with_confirmation(password: str, confirm: str, errors: dict[str, str]
                       ) -> dict[str, str]:
    """The page's own check: the password typed twice the same."""
    if password and not errors.get("password") and confirm != password:
        errors["confirm_password"] = MISMATCH
    return errors


# ----- register ---------------------------------------------------------------------

async def _register_page(request: Request, db: DbSession, *, status_code: int = 200,
                         **values: Any) -> Response:
    service = await get_account_service(request=request, db=db,
                                        auditor=await get_request_auditor(request, db))
    return render(request, "register.html", {
        "organisations": await service.joinable_organisations(), "errors": {},
        "form": {"username": "", "email": "", "full_name": "", "organisation_id": ""},
        **values}, status_code=status_code)


@router.get("/register")
async def register_form(request: Request, _form: AnonymousForm, db: DbSession) -> Response:
    return await _register_page(request, db)


@router.post("/register")
async def register(request: Request, _form: AnonymousForm, db: DbSession) -> Response:
    values = await form_values(request, "username", "email", "full_name", "organisation_id",
                               "password", "confirm_password")
    confirm = values.pop("confirm_password")
    kept = {name: values[name] for name in ("username", "email", "full_name",
                                            "organisation_id")}
    body, errors = validate(RegisterIn, {
        **values, "full_name": values["full_name"] or None,
        "organisation_id": values["organisation_id"] or None}, REGISTER_MESSAGES)
    errors |= {name: REGISTER_MESSAGES[name] for name in ("username", "email", "password")
               if not values[name]}
    errors = _with_confirmation(values["password"], confirm, errors)
    if body is None or errors:
        return await _register_page(request, db, status_code=400, form=kept, errors=errors)
    limiter = wiring_of(request).get(RateLimiter)
    service = await get_account_service(request=request, db=db,
                                        auditor=await get_request_auditor(request, db))
    try:
        await limiter.check("register", limiter.limits.register, request)
        await service.register(NewAccount(username=body.username, email=body.email,
                                          password=body.password,
                                          full_name=body.full_name or ""),
                               body.organisation_id)
    except RateLimited as exc:
        return await _register_page(request, db, status_code=429, form=kept,
                                    errors={FORM_ERROR: too_many_attempts(exc)})
    except Invalid as exc:
        message = message_of(exc)
        field = REGISTER_FIELD_OF.get(message, "password")  # else the password policy's
        await db.rollback()  # nothing half-made stays; the page below reads afresh
        return await _register_page(request, db, status_code=400, form=kept,
                                    errors={field: message})
    return redirect("/sign-in", done="registered")


# ----- accept an invite --------------------------------------------------------------

async def _acceptance(request: Request, db: DbSession) -> InviteAcceptanceService:
    return await get_acceptance(request=request, db=db,
                                auditor=await get_request_auditor(request, db))


def _invite_path(token: str) -> str:
    return f"/accept-invite?{urlencode({'token': token})}"


def _unusable(request: Request) -> Response:
    return render(request, "invite_unusable.html", status_code=400)


async def _accept_page(request: Request, db: DbSession, token: str, *,
                       status_code: int = 200, **values: Any) -> Response:
    try:
        pending = await (await _acceptance(request, db)).pending(token)
    except Invalid:
        return _unusable(request)
    return render(request, "accept_invite.html", {
        "token": token, "invite": pending, "errors": {}, "username": "",
        "sign_in_path": f"/sign-in?{urlencode({'next': _invite_path(token)})}",
        **values}, status_code=status_code)


@router.get("/accept-invite")
async def accept_form(request: Request, _page: MaybeSignedIn, db: DbSession,
                      token: str = "") -> Response:
    if not token or len(token) > 200:
        return _unusable(request)
    return await _accept_page(request, db, token)


@router.post("/accept-invite")
async def accept(request: Request, page: MaybeSignedIn, db: DbSession) -> Response:
    values = await form_values(request, "token", "username", "password", "confirm_password")
    confirm = values.pop("confirm_password")
    token = values["token"]
    if not token or len(token) > 200:
        return _unusable(request)
    # Filled in, the form makes a new account; empty, the service decides (accept as the
    # signed-in account, send an existing account's owner to sign in, or ask for both).
    creating = bool(values["username"] or values["password"])
    errors: dict[str, str] = {}
    if creating:
        _, errors = validate(AcceptIn, values, ACCEPT_MESSAGES)
        errors = _with_confirmation(values["password"], confirm, errors)
    username = values["username"]
    if errors:
        return await _accept_page(request, db, token, status_code=400, errors=errors,
                                  username=username)
    service = await _acceptance(request, db)
    try:
        result = await service.accept(page.caller if page else None, token,
                                      username or None, values["password"] or None)
    except Unauthenticated:
        # An account uses the invited address: its owner signs in and comes back here.
        return redirect("/sign-in", next=_invite_path(token), done="sign-in-to-accept")
    except Forbidden:
        return await _accept_page(request, db, token, status_code=403,
                                  errors={FORM_ERROR: NOT_YOURS})
    except Unprocessable:
        return await _accept_page(request, db, token, status_code=400, username=username,
                                  errors={"username": ACCEPT_MESSAGES["username"],
                                          "password": ACCEPT_MESSAGES["password"]})
    except Conflict:
        return await _accept_page(request, db, token, status_code=400, username=username,
                                  errors={"username": TAKEN_USERNAME})
    except Invalid as exc:
        if message_of(exc) == INVALID_INVITE:
            return _unusable(request)
        await db.rollback()
        return await _accept_page(request, db, token, status_code=400, username=username,
                                  errors={"password": message_of(exc)})
    if result.status == "registered":
        return redirect("/sign-in", done="invite-registered")
    return redirect("/", done="invite-accepted")
