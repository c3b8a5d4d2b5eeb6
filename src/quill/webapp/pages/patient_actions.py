"""Forms on the patient page: prescribe a controlled drug, invite someone from outside.

Each posts to the API's service with the API's gate: the competency check of
POST /api/prescriptions/controlled, and ExternalAccessService's own rule on who may
invite. A form with mistakes shows the patient page again with the messages beside it.
"""

from __future__ import annotations

from fastapi import APIRouter, BackgroundTasks, Depends
from starlette.responses import Response

from quill.email.port import send_after_response
from quill.external_access.router import get_service as get_external_access_service
from quill.external_access.schemas import InviteIn
from quill.prescriptions.router import require_prescriber
from quill.prescriptions.schemas import ControlledPrescriptionIn
from quill.web.clinical import require_clinical_services
from quill.webapp.forms import form_values, validate
from quill.webapp.pages import patient_sections as sections
from quill.webapp.pages.patient import patient_page
from quill.webapp.rendering import redirect
from quill.webapp.security import SignedIn, VisiblePatient

router = APIRouter(include_in_schema=False, dependencies=[Depends(require_clinical_services)])

PRESCRIPTION_FIELDS = ("medication", "dose", "duration_days")
PRESCRIPTION_MESSAGES = {
    "medication": "Enter the medicine, its strength and form (up to 200 characters)",
    "dose": "Enter the dose and how often (up to 200 characters)",
    "duration_days": "Enter the number of days, from 1 to 366",
}
INVITE_FIELDS = ("email", "user_type")
INVITE_MESSAGES = {
    "email": "Enter an email address, like name@example.org",
    "user_type": "Choose who you are inviting",
}


@router.post("/patients/{patient_id}/prescriptions")
async def prescribe(patient_id: VisiblePatient, page: SignedIn) -> Response:
    await require_prescriber(page.caller)
    values = await form_values(page.request, *PRESCRIPTION_FIELDS)
    body, errors = validate(ControlledPrescriptionIn,
                            {**{k: v.strip() for k, v in values.items()},
                             "patient_id": patient_id}, PRESCRIPTION_MESSAGES)
    if body is None:
        return await patient_page(page, patient_id, status_code=400, form="prescription",
                                  errors=errors, values=values)
    service = await sections.prescription_service(page)
    await service.prescribe_controlled(body)
    return redirect(f"/patients/{patient_id}", done="prescribed")


@router.post("/patients/{patient_id}/invite")
async def invite(patient_id: VisiblePatient, page: SignedIn, background: BackgroundTasks
                 ) -> Response:
    values = await form_values(page.request, *INVITE_FIELDS)
    body, errors = validate(InviteIn, {k: v.strip() for k, v in values.items()},
                            INVITE_MESSAGES)
    if body is None:
        return await patient_page(page, patient_id, status_code=400, form="invite",
                                  errors=errors, values=values)
    service = await page.service(get_external_access_service)
    await service.invite(patient_id, body.email, body.user_type)
    # As the API does: the mail leaves once the invite has been committed.
    for mail in service.mails:
        send_after_response(background, service.mailer, mail.to, mail.subject, mail.body)
    return redirect(f"/patients/{patient_id}", done="invite-sent")
