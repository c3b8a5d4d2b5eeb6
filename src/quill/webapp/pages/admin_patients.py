"""Administrator pages for patient records: the admin-scope list (inactive ones too),
creating a patient with the NHS number checked as it is typed, activating and
deactivating.

The patients service does the work, audits it and checks the NHS number again on the
server (Modulus 11 and uniqueness); the as-you-type check calls the same validation
function, so the two can never disagree about what a valid number is.
"""

from __future__ import annotations

from collections.abc import Mapping
from typing import Annotated, Any

from fastapi import APIRouter, Depends, Path, Query
from starlette.responses import Response

from quill.errors import QuillError
from quill.fhir.port import FHIR_ID_PATTERN, Resource
from quill.patients.listing import ListRequest
from quill.patients.nhs_number import is_valid_nhs_number, normalise
from quill.patients.resource import nhs_number_of
from quill.patients.router import get_service as get_patient_service
from quill.patients.schemas import PatientIn
from quill.web.clinical import require_clinical_services
from quill.webapp.forms import FORM_ERROR, form_values, message_of, validate
from quill.webapp.notices import notice_for
from quill.webapp.pages.admin import PAGE_SIZE, AdminPage, SearchQuery, attempt
from quill.webapp.rendering import redirect, render
from quill.webapp.security import Page

# Patient records are clinical: off with the clinical services, as the API's routes are.
router = APIRouter(include_in_schema=False, dependencies=[Depends(require_clinical_services)])

PatientIdPath = Annotated[str, Path(min_length=1, max_length=64, pattern=FHIR_ID_PATTERN)]
# A patient list cursor can wrap an external FHIR server's next link: roomy, as the API.
PatientCursor = Annotated[str | None, Query(max_length=4000)]
FIELDS = ("given_name", "family_name", "birth_date", "gender", "nhs_number")
MESSAGES = {
    "given_name": "Enter the given name", "family_name": "Enter the family name",
    "birth_date": "Enter the date of birth as a date, like 1980-03-12",
    "gender": "Choose a gender", "nhs_number": "Enter the NHS number (10 digits)",
}
INVALID_NHS = "This is not a valid NHS number: check the 10 digits"
GENDERS = [("", "Not recorded"), ("female", "Female"), ("male", "Male"),
           ("other", "Other"), ("unknown", "Unknown")]


def patient_name(patient: Resource) -> str:
    """``FAMILY, Given`` as UK clinical lists show it; the id when there is no name."""
    names = patient.get("name") or []
    first = names[0] if names and isinstance(names[0], dict) else {}
    given = " ".join(str(g) for g in first.get("given") or [])
    family = str(first.get("family") or "")
    text = ", ".join(part for part in (family.upper(), given) if part)
    return text or str(patient.get("id", ""))


def nhs_number_status(value: str) -> tuple[str, str]:
    """(state, text) for the as-you-type check; the state names the CSS class."""
    digits = normalise(value.strip())
    if not digits:
        return "empty", "Optional. 10 digits; spaces are fine."
    if is_valid_nhs_number(digits):
        return "valid", "A valid NHS number."
    if len(digits) < 10 and digits.isdigit():
        return "partial", f"{len(digits)} of 10 digits."
    return "invalid", INVALID_NHS


async def _patients_page(page: Page, *, q: str = "", show: str = "all",
                         cursor: str | None = None, notice: str = "",
                         errors: dict[str, str] | None = None,
                         values: Mapping[str, str] | None = None,
                         status_code: int = 200) -> Response:
    service = await page.service(get_patient_service)
    listing = await service.list_patients(ListRequest(
        limit=PAGE_SIZE, cursor=cursor, q=q.strip() or None,
        include_inactive=show != "active", admin_scope=True))
    rows: list[dict[str, Any]] = [
        {"id": str(p["id"]), "name": patient_name(p), "nhs_number": nhs_number_of(p),
         "birth_date": p.get("birthDate", ""), "active": str(p["id"]) not in listing.inactive}
        for p in listing.patients]
    values = values or {}
    return render(page.request, "admin/patients.html", {
        "patients": rows, "next_cursor": listing.next_cursor, "fhir_ready": listing.fhir_ready,
        "q": q, "show": show, "first_page": cursor is None, "notice": notice,
        "errors": errors or {}, "values": values, "genders": GENDERS,
        "nhs_state": nhs_number_status(values.get("nhs_number", "")),
    }, status_code=status_code)


@router.get("/admin/patients")
async def patients(page: AdminPage, q: SearchQuery = "", show: str = "all",
                   cursor: PatientCursor = None, done: str = "") -> Response:
    return await _patients_page(page, q=q, show="active" if show == "active" else "all",
                                cursor=cursor, notice=notice_for(done))


@router.get("/admin/patients/nhs-number-check")
async def check_nhs_number(page: AdminPage,
                           nhs_number: Annotated[str, Query(max_length=32)] = "") -> Response:
    """The small fragment htmx swaps in under the NHS number field as it is typed."""
    return render(page.request, "admin/_nhs_number_status.html",
                  {"nhs_state": nhs_number_status(nhs_number)})


@router.post("/admin/patients")
async def create_patient(page: AdminPage) -> Response:
    values = await form_values(page.request, *FIELDS)
    parsed = {k: v.strip() or None for k, v in values.items()}
    body, errors = validate(PatientIn, parsed, MESSAGES)
    for name in ("given_name", "family_name"):
        if not parsed[name]:
            errors[name] = MESSAGES[name]
    if parsed["nhs_number"] and not is_valid_nhs_number(parsed["nhs_number"]):
        errors["nhs_number"] = INVALID_NHS
    if body is None or errors:
        return await _patients_page(page, errors=errors, values=values, status_code=400)
    service = await page.service(get_patient_service)
    outcome = await attempt(page, lambda: service.create(body.fields(), None))
    if isinstance(outcome, QuillError):
        message = message_of(outcome)
        field = "nhs_number" if "NHS number" in message else FORM_ERROR
        return await _patients_page(page, errors={field: message}, values=values,
                                    status_code=outcome.status_code)
    return redirect("/admin/patients", done="patient-created", q=body.family_name)


@router.post("/admin/patients/{patient_id}/activation")
async def set_activation(patient_id: PatientIdPath, page: AdminPage) -> Response:
    values = await form_values(page.request, "is_active", "q", "show")
    active = values["is_active"] == "true"
    await (await page.service(get_patient_service)).set_active(patient_id, active)
    back = {k: values[k] for k in ("q", "show") if values[k]}
    return redirect("/admin/patients",
                    done="patient-activated" if active else "patient-deactivated", **back)
