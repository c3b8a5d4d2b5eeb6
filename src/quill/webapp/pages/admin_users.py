"""Administrator pages for user accounts: the searchable list, creating a user, and one
user's details, competencies, linked patient, sign-in and password.

Every change goes through the JSON routers' services (users, competencies), so the level
rules (only a superadmin makes admins, nobody changes their own level or competencies)
are theirs; the page shows their refusals as messages and offers only the levels the
caller may set, from the same rule function (``may_manage``).
"""

from __future__ import annotations

from collections.abc import Mapping
from typing import Any

from fastapi import APIRouter
from starlette.requests import Request
from starlette.responses import Response

from quill.access.cbac import final_competencies, load_catalogue
from quill.competencies.router import get_service as get_competency_service
from quill.errors import QuillError
from quill.identity.levels import PermissionLevel, may_manage
from quill.identity.models import User
from quill.users.router import get_service as get_user_service
from quill.users.schemas import LinkPatientIn, UserCreate, UserUpdate
from quill.web.keyset import CursorQuery, IdPath
from quill.webapp.forms import FORM_ERROR, form_values, message_of, validate
from quill.webapp.notices import notice_for
from quill.webapp.pages.admin import PAGE_SIZE, AdminPage, SearchQuery, attempt
from quill.webapp.rendering import redirect, render
from quill.webapp.security import Page

router = APIRouter(include_in_schema=False)

USER_FIELDS = ("name", "username", "email", "password", "base_profession",
               "system_permissions")
USER_MESSAGES = {
    "name": "Enter the person's name (up to 200 characters)",
    "username": "Enter a username (up to 150 characters), or leave it empty to use the "
                "email address",
    "email": "Enter an email address, like name@example.org",
    "password": "Enter a password",
    "base_profession": "Choose a profession",
    "system_permissions": "Choose a level",
    "fhir_patient_id": "Enter a patient id (letters, digits, '-' and '.')",
}
# Which field a service's message is about; anything else is about the whole form.
MESSAGE_FIELDS = (
    ("Username", "username"), ("Invalid username", "username"), ("Email", "email"),
    ("Password", "password"), ("Unknown profession", "base_profession"),
    ("Unknown permission level", "system_permissions"),
    ("Only a superadmin", "system_permissions"),
    ("You cannot change your own permission level", "system_permissions"),
    ("Unknown competency", "competencies"), ("Granting a high risk", "competencies"),
    ("You cannot change your own competencies", "competencies"),
    ("Patient", "fhir_patient_id"),
)
MISMATCH = "The two passwords are not the same"


def field_of(error: QuillError) -> str:
    message = message_of(error)
    for prefix, name in MESSAGE_FIELDS:
        if message.startswith(prefix):
            return name
    return FORM_ERROR


def level_choices(page: Page, current: str | None = None) -> list[str]:
    """The levels this caller may give (the users service's own rule), plus the user's
    current one so the form shows the truth; the service refuses anything else."""
    levels = [level.value for level in PermissionLevel if may_manage(page.caller.level, level)]
    if current is not None and current not in levels:
        levels.append(current)
    return levels


def catalogue_values() -> dict[str, Any]:
    catalogue = load_catalogue()
    return {
        "professions": sorted(catalogue.professions.values(), key=lambda p: p.name),
        "competencies": sorted(catalogue.competencies.values(),
                               key=lambda c: (c.category, c.id)),
    }


async def _form_lists(request: Request) -> tuple[list[str], list[str]]:
    form = await request.form()
    known = load_catalogue().competencies
    return ([v for v in form.getlist("additional") if isinstance(v, str) and v in known],
            [v for v in form.getlist("removed") if isinstance(v, str) and v in known])


def competency_preview(base: str, additional: list[str], removed: list[str]
                       ) -> dict[str, Any]:
    """The final set as it will be: the same function the access checks use."""
    profession = load_catalogue().professions.get(base)
    return {"base_profession": base, "additional": additional, "removed": removed,
            "from_profession": sorted(profession.competencies) if profession else [],
            "final": final_competencies(base, additional, removed)}


# --- The list --------------------------------------------------------------------------

@router.get("/admin/users")
async def users(page: AdminPage, q: SearchQuery = "", cursor: CursorQuery = None,
                done: str = "") -> Response:
    service = await page.service(get_user_service)
    listing = await service.list_users(patient_id=None, permission_level=None,
                                       limit=PAGE_SIZE, cursor=cursor, q=q.strip() or None)
    return render(page.request, "admin/users.html", {
        "users": listing.users, "next_cursor": listing.next_cursor, "q": q,
        "first_page": cursor is None, "notice": notice_for(done),
    })


# --- Creating a user -------------------------------------------------------------------

def _new_user_page(page: Page, values: Mapping[str, str], additional: list[str],
                   removed: list[str], errors: dict[str, str] | None = None,
                   status_code: int = 200) -> Response:
    base = values.get("base_profession") or "registered_nurse"
    return render(page.request, "admin/user_new.html", {
        "values": values, "errors": errors or {}, "levels": level_choices(page),
        **catalogue_values(), **competency_preview(base, additional, removed),
    }, status_code=status_code)


@router.get("/admin/users/new")
async def new_user(page: AdminPage) -> Response:
    return _new_user_page(page, {"system_permissions": "staff"}, [], [])


@router.post("/admin/users/new")
async def preview_new_user(page: AdminPage) -> Response:
    """The form again with the final competencies worked out (htmx swaps only that part)."""
    values = await form_values(page.request, *USER_FIELDS)
    values.pop("password")
    return _new_user_page(page, values, *await _form_lists(page.request))


@router.post("/admin/users")
async def create_user(page: AdminPage) -> Response:
    values = await form_values(page.request, *USER_FIELDS)
    additional, removed = await _form_lists(page.request)
    body, errors = validate(UserCreate, {
        **values, "username": values["username"].strip() or None,
        "additional_competencies": additional, "removed_competencies": removed,
    }, USER_MESSAGES)
    kept = {k: v for k, v in values.items() if k != "password"}
    if body is None:
        return _new_user_page(page, kept, additional, removed, errors, 400)
    service = await page.service(get_user_service)
    outcome = await attempt(page, lambda: service.create_user(body))
    if isinstance(outcome, QuillError):
        return _new_user_page(page, kept, additional, removed,
                              {field_of(outcome): message_of(outcome)}, outcome.status_code)
    return redirect(f"/admin/users/{outcome.id}", done="user-created")


# --- One user --------------------------------------------------------------------------

async def _user_page(page: Page, user_id: int, *, form: str = "", status_code: int = 200,
                     errors: dict[str, str] | None = None, notice: str = "",
                     preview: tuple[str, list[str], list[str]] | None = None,
                     values: Mapping[str, str] | None = None) -> Response:
    user: User = await (await page.service(get_user_service)).get_user(user_id)
    base, additional, removed = preview or (
        user.base_profession, list(user.additional_competencies),
        list(user.removed_competencies))
    return render(page.request, "admin/user.html", {
        "user": user, "form": form, "errors": errors or {}, "notice": notice,
        "levels": level_choices(page, user.system_permissions),
        "is_self": user.id == page.caller.user_id, "values": values or {},
        "previewing": preview is not None,
        **catalogue_values(), **competency_preview(base, additional, removed),
    }, status_code=status_code)


@router.get("/admin/users/{user_id}")
async def user_detail(user_id: IdPath, page: AdminPage, done: str = "") -> Response:
    return await _user_page(page, user_id, notice=notice_for(done))


@router.post("/admin/users/{user_id}")
async def update_user(user_id: IdPath, page: AdminPage) -> Response:
    values = await form_values(page.request, "name", "username", "email",
                               "system_permissions", "base_profession")
    body, errors = validate(UserUpdate, {k: v.strip() or None for k, v in values.items()},
                            USER_MESSAGES)
    if body is None:
        return await _user_page(page, user_id, form="details", errors=errors,
                                status_code=400, values=values)
    return await _change(page, user_id, body, form="details", done="user-updated",
                         values=values)


async def _change(page: Page, user_id: int, body: UserUpdate, *, form: str, done: str,
                  values: Mapping[str, str] | None = None, field: str | None = None
                  ) -> Response:
    service = await page.service(get_user_service)
    await service.get_user(user_id)  # a missing user is the 404 page, not a message
    outcome = await attempt(page, lambda: service.update_user(user_id, body))
    if isinstance(outcome, QuillError):
        return await _user_page(page, user_id, form=form, status_code=outcome.status_code,
                                errors={field or field_of(outcome): message_of(outcome)},
                                values=values)
    return redirect(f"/admin/users/{user_id}", done=done)


@router.post("/admin/users/{user_id}/competencies/preview")
async def preview_competencies(user_id: IdPath, page: AdminPage) -> Response:
    additional, removed = await _form_lists(page.request)
    user = await (await page.service(get_user_service)).get_user(user_id)
    return await _user_page(page, user_id, form="competencies",
                            preview=(user.base_profession, additional, removed))


@router.post("/admin/users/{user_id}/competencies")
async def change_competencies(user_id: IdPath, page: AdminPage) -> Response:
    additional, removed = await _form_lists(page.request)
    service = await page.service(get_competency_service)
    outcome = await attempt(page, lambda: service.change(user_id, additional=additional,
                                                         removed=removed))
    if isinstance(outcome, QuillError):
        user = await (await page.service(get_user_service)).get_user(user_id)
        return await _user_page(page, user_id, form="competencies",
                                status_code=outcome.status_code,
                                errors={"competencies": message_of(outcome)},
                                preview=(user.base_profession, additional, removed))
    return redirect(f"/admin/users/{user_id}", done="competencies-changed")


@router.post("/admin/users/{user_id}/link-patient")
async def link_patient(user_id: IdPath, page: AdminPage) -> Response:
    values = await form_values(page.request, "fhir_patient_id")
    body, errors = validate(LinkPatientIn, {"fhir_patient_id": values["fhir_patient_id"]
                                            .strip()}, USER_MESSAGES)
    if body is None:
        return await _user_page(page, user_id, form="link", errors=errors, status_code=400,
                                values=values)
    service = await page.service(get_user_service)
    await service.get_user(user_id)
    outcome = await attempt(page, lambda: service.link_patient(user_id, body.fhir_patient_id))
    if isinstance(outcome, QuillError):
        return await _user_page(page, user_id, form="link", status_code=outcome.status_code,
                                errors={"fhir_patient_id": message_of(outcome)},
                                values=values)
    return redirect(f"/admin/users/{user_id}", done="patient-linked")


@router.post("/admin/users/{user_id}/activation")
async def set_activation(user_id: IdPath, page: AdminPage) -> Response:
    values = await form_values(page.request, "is_active")
    active = values["is_active"] == "true"
    return await _change(page, user_id, UserUpdate(is_active=active), form="activation",
                         done="user-reactivated" if active else "user-deactivated",
                         field=FORM_ERROR)


@router.post("/admin/users/{user_id}/password")
async def set_password(user_id: IdPath, page: AdminPage) -> Response:
    values = await form_values(page.request, "new_password", "confirm_password")
    body, errors = validate(UserUpdate, {"password": values["new_password"]}, {})
    errors = {"new_password": "Enter a new password"} if errors else {}
    if not values["new_password"]:
        errors = {"new_password": "Enter a new password"}
    elif values["new_password"] != values["confirm_password"]:
        errors = {"confirm_password": MISMATCH}
    if body is None or errors:
        return await _user_page(page, user_id, form="password", errors=errors,
                                status_code=400)
    return await _change(page, user_id, body, form="password", done="password-set",
                         field="new_password")
