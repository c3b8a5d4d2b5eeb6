"""Administrator pages for organisations: the list and creating one; one organisation's
details, staff and patient members (with the primary flag) and features.

The organisations service holds the rules (types, one primary per user and per patient,
the feature catalogue) and audits every change; these handlers parse, call and show.
"""

from __future__ import annotations

from collections.abc import Mapping
from typing import Annotated

from fastapi import APIRouter, Path
from starlette.responses import Response

from quill.access.features import FEATURES
from quill.access.models import OrganisationType
from quill.errors import QuillError
from quill.fhir.port import FHIR_ID_PATTERN
from quill.organisations.router import get_service as get_organisation_service
from quill.organisations.schemas import OrganisationIn, OrganisationPatch, PatientIn
from quill.web.keyset import CursorQuery, IdPath
from quill.webapp.forms import FORM_ERROR, form_values, message_of, validate
from quill.webapp.notices import notice_for
from quill.webapp.pages.admin import PAGE_SIZE, AdminPage, attempt, user_named
from quill.webapp.rendering import redirect, render
from quill.webapp.security import Page

router = APIRouter(include_in_schema=False)

PatientIdPath = Annotated[str, Path(max_length=64, pattern=FHIR_ID_PATTERN)]
FeaturePath = Annotated[str, Path(max_length=64)]
TYPE_NAMES = {
    OrganisationType.HOSPITAL_TEAM: "Hospital team", OrganisationType.GP_PRACTICE: "GP practice",
    OrganisationType.PRIVATE_CLINIC: "Private clinic",
    OrganisationType.DEPARTMENT: "Department",
    OrganisationType.TEACHING_ESTABLISHMENT: "Teaching establishment",
}
MESSAGES = {"name": "Enter a name (up to 200 characters)", "type": "Choose a type",
            "location": "Enter a location of up to 200 characters",
            "patient_id": "Enter a patient id (letters, digits, '-' and '.')"}
NO_SUCH_USER = "No user has that username"


def _type_options() -> list[tuple[str, str]]:
    return [(kind.value, TYPE_NAMES[kind]) for kind in OrganisationType]


def _organisation_body(values: Mapping[str, str]) -> dict[str, str | None]:
    return {"name": values["name"].strip(), "type": values["type"],
            "location": values["location"].strip() or None}


async def _list_page(page: Page, *, cursor: str | None = None, notice: str = "",
                     errors: dict[str, str] | None = None,
                     values: Mapping[str, str] | None = None,
                     status_code: int = 200) -> Response:
    service = await page.service(get_organisation_service)
    listing = await service.list_organisations(limit=PAGE_SIZE, cursor=cursor)
    return render(page.request, "admin/organisations.html", {
        "organisations": listing.organisations, "next_cursor": listing.next_cursor,
        "first_page": cursor is None, "types": _type_options(), "type_names": TYPE_NAMES,
        "errors": errors or {}, "values": values or {}, "notice": notice,
    }, status_code=status_code)


@router.get("/admin/organisations")
async def organisations(page: AdminPage, cursor: CursorQuery = None, done: str = ""
                        ) -> Response:
    return await _list_page(page, cursor=cursor, notice=notice_for(done))


@router.post("/admin/organisations")
async def create_organisation(page: AdminPage) -> Response:
    values = await form_values(page.request, "name", "type", "location")
    body, errors = validate(OrganisationIn, _organisation_body(values), MESSAGES)
    if body is None:
        return await _list_page(page, errors=errors, values=values, status_code=400)
    service = await page.service(get_organisation_service)
    outcome = await attempt(page, lambda: service.create(body))
    if isinstance(outcome, QuillError):
        return await _list_page(page, errors={FORM_ERROR: message_of(outcome)},
                                values=values, status_code=outcome.status_code)
    return redirect(f"/admin/organisations/{outcome.id}", done="organisation-created")


async def _detail_page(page: Page, oid: int, *, form: str = "", notice: str = "",
                       errors: dict[str, str] | None = None,
                       values: Mapping[str, str] | None = None,
                       status_code: int = 200) -> Response:
    service = await page.service(get_organisation_service)
    found = await service.detail(oid)
    enabled = {row.feature_key: row for row in await service.features(oid)}
    return render(page.request, "admin/organisation.html", {
        "organisation": found.organisation, "staff": found.staff, "patients": found.patients,
        "features": FEATURES, "enabled": enabled, "types": _type_options(),
        "type_names": TYPE_NAMES, "form": form, "errors": errors or {},
        "values": values or {}, "notice": notice,
    }, status_code=status_code)


async def _done(page: Page, oid: int, outcome: object, *, form: str, field: str,
                done: str, values: Mapping[str, str] | None = None) -> Response:
    if isinstance(outcome, QuillError):
        return await _detail_page(page, oid, form=form, values=values,
                                  errors={field: message_of(outcome)},
                                  status_code=outcome.status_code)
    return redirect(f"/admin/organisations/{oid}", done=done)


@router.get("/admin/organisations/{oid}")
async def organisation(oid: IdPath, page: AdminPage, done: str = "") -> Response:
    return await _detail_page(page, oid, notice=notice_for(done))


@router.post("/admin/organisations/{oid}")
async def update_organisation(oid: IdPath, page: AdminPage) -> Response:
    values = await form_values(page.request, "name", "type", "location")
    body, errors = validate(OrganisationPatch, _organisation_body(values), MESSAGES)
    if body is None:
        return await _detail_page(page, oid, form="details", errors=errors, values=values,
                                  status_code=400)
    service = await page.service(get_organisation_service)
    await service.get_organisation(oid)
    outcome = await attempt(page, lambda: service.update_organisation(oid, body))
    return await _done(page, oid, outcome, form="details", field=FORM_ERROR,
                       done="organisation-updated", values=values)


@router.post("/admin/organisations/{oid}/staff")
async def add_staff(oid: IdPath, page: AdminPage) -> Response:
    values = await form_values(page.request, "username", "is_primary")
    username = values["username"].strip()
    service = await page.service(get_organisation_service)
    await service.get_organisation(oid)
    user = await user_named(page, username)
    if user is None:
        return await _detail_page(page, oid, form="staff", values=values, status_code=400,
                                  errors={"username": NO_SUCH_USER})
    outcome = await attempt(page, lambda: service.add_staff(
        oid, user.id, values["is_primary"] == "true"))
    return await _done(page, oid, outcome, form="staff", field="username",
                       done="staff-added", values=values)


@router.post("/admin/organisations/{oid}/staff/{user_id}/remove")
async def remove_staff(oid: IdPath, user_id: IdPath, page: AdminPage) -> Response:
    service = await page.service(get_organisation_service)
    await service.remove_staff(oid, user_id)  # not a member: the 404 page
    return redirect(f"/admin/organisations/{oid}", done="staff-removed")


@router.post("/admin/organisations/{oid}/patients")
async def add_patient(oid: IdPath, page: AdminPage) -> Response:
    values = await form_values(page.request, "patient_id", "is_primary")
    body, errors = validate(PatientIn, {"patient_id": values["patient_id"].strip(),
                                        "is_primary": values["is_primary"] == "true"},
                            MESSAGES)
    if body is None:
        return await _detail_page(page, oid, form="patients", errors=errors, values=values,
                                  status_code=400)
    service = await page.service(get_organisation_service)
    await service.get_organisation(oid)
    outcome = await attempt(page, lambda: service.add_patient(oid, body.patient_id,
                                                              body.is_primary))
    return await _done(page, oid, outcome, form="patients", field="patient_id",
                       done="patient-added", values=values)


@router.post("/admin/organisations/{oid}/patients/{patient_id}/remove")
async def remove_patient(oid: IdPath, patient_id: PatientIdPath, page: AdminPage
                         ) -> Response:
    service = await page.service(get_organisation_service)
    await service.remove_patient(oid, patient_id)
    return redirect(f"/admin/organisations/{oid}", done="patient-removed")


@router.post("/admin/organisations/{oid}/features/{key}")
async def set_feature(oid: IdPath, key: FeaturePath, page: AdminPage) -> Response:
    values = await form_values(page.request, "enabled")
    service = await page.service(get_organisation_service)
    await service.get_organisation(oid)
    outcome = await attempt(page, lambda: service.set_feature(oid, key,
                                                              values["enabled"] == "true"))
    return await _done(page, oid, outcome, form="features", field=FORM_ERROR,
                       done="feature-changed")
