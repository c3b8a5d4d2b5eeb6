"""The patient page, and changing the patient's details.

Details are read and changed through PatientService exactly as GET and PATCH
/api/patients/{id}: the form carries the version it was drawn from and the change is sent
with it as If-Match, so a change made meanwhile by someone else is a conflict (the API's
412), shown with the details as they are now.
"""

from __future__ import annotations

from dataclasses import asdict
from typing import Any

from fastapi import APIRouter, Depends
from starlette.responses import Response

from quill.auth.deps import require_staff
from quill.errors import Conflict, PreconditionFailed, Unprocessable
from quill.fhir.port import etag
from quill.patients.router import get_service as get_patient_service
from quill.patients.schemas import PatientPatch
from quill.web.clinical import require_clinical_services
from quill.webapp.forms import form_values, message_of, validate
from quill.webapp.notices import notice_for
from quill.webapp.pages import patient_sections as sections
from quill.webapp.pages.patient_view import GENDERS, PatientView
from quill.webapp.rendering import redirect, render
from quill.webapp.security import Page, SignedIn, VisiblePatient

router = APIRouter(include_in_schema=False, dependencies=[Depends(require_clinical_services)])

DETAIL_FIELDS = ("given_name", "family_name", "birth_date", "gender", "nhs_number")
REQUIRED_FIELDS = ("given_name", "family_name")
DETAIL_MESSAGES = {
    "given_name": "Enter the first name",
    "family_name": "Enter the last name",
    "birth_date": "Enter the date of birth as a real date",
    "gender": "Choose one of the options",
    "nhs_number": "Enter the NHS number as 10 digits",
}


async def patient_page(page: Page, patient_id: str, *, status_code: int = 200,
                       **values: Any) -> Response:
    """The whole patient page; the action forms render it again with their errors."""
    patients = await page.service(get_patient_service)
    patient = PatientView.of(await patients.read(patient_id))
    letters, letters_next = await sections.letters(page, patient_id)
    return render(page.request, "patients/patient.html", {
        "patient": patient,
        "letters": letters, "letters_more": letters_next is not None,
        "threads": await sections.threads(page, patient_id),
        "prescriptions": await sections.prescriptions(page, patient_id),
        "access_log": await sections.access_log(page, patient_id),
        "external": await sections.external_access(page, patient_id),
        "form": "", "errors": {}, "values": {},
        **values,
    }, status_code=status_code)


@router.get("/patients/{patient_id}")
async def show_patient(patient_id: VisiblePatient, page: SignedIn, done: str = "") -> Response:
    return await patient_page(page, patient_id, notice=notice_for(done))


def _details_page(page: Page, patient: PatientView, *, values: dict[str, str],
                  errors: dict[str, str] | None = None, yours: dict[str, str] | None = None,
                  status_code: int = 200) -> Response:
    return render(page.request, "patients/details.html", {
        "patient": patient, "values": values, "errors": errors or {},
        "yours": yours, "genders": GENDERS,
    }, status_code=status_code)


def _form_of(patient: PatientView) -> dict[str, str]:
    return {name: value for name, value in asdict(patient).items()
            if name in (*DETAIL_FIELDS, "version")}


@router.get("/patients/{patient_id}/details")
async def edit_details(patient_id: VisiblePatient, page: SignedIn) -> Response:
    await require_staff(page.caller)
    patient = PatientView.of(await (await page.service(get_patient_service)).read(patient_id))
    return _details_page(page, patient, values=_form_of(patient))


@router.post("/patients/{patient_id}/details")
async def change_details(patient_id: VisiblePatient, page: SignedIn) -> Response:
    await require_staff(page.caller)  # the API's gate on PATCH /patients/{id}
    service = await page.service(get_patient_service)
    values = await form_values(page.request, *DETAIL_FIELDS, "version")
    given = {name: values[name].strip() for name in DETAIL_FIELDS if values[name].strip()}
    body, errors = validate(PatientPatch, given, DETAIL_MESSAGES)
    errors |= {name: DETAIL_MESSAGES[name] for name in REQUIRED_FIELDS if name not in given}
    if body is None or errors:
        current = PatientView.of(await service.read(patient_id))
        return _details_page(page, current, values=values, errors=errors, status_code=400)
    try:
        # A savepoint: a refused change leaves nothing behind in the request's transaction.
        async with page.db.begin_nested():
            await service.patch(patient_id, body.fields(), etag(values["version"]))
    except PreconditionFailed:
        current = PatientView.of(await service.read(patient_id))
        return _details_page(page, current, values=_form_of(current), yours=values,
                             status_code=409)
    except (Unprocessable, Conflict) as refused:
        # An NHS number that fails its check digit, or one another patient already has.
        current = PatientView.of(await service.read(patient_id))
        return _details_page(page, current, values=values, status_code=400,
                             errors={"nhs_number": message_of(refused)})
    return redirect(f"/patients/{patient_id}", done="details-saved")
