"""A patient's own record, read-only: demographics, letters, who has looked at it and who
else may see it (with the patient's right to withdraw that access).

Each read is the API's for a patient reading their own record (``GET
/api/patients/{id}/demographics``, ``.../letters``, ``.../access-log``,
``.../external-access``): the same services, so the same rules and audit entries. The
record is the caller's own (``fhir_patient_id``); no path names a patient.
"""

from __future__ import annotations

from datetime import date
from typing import Annotated, Any

from fastapi import APIRouter, Depends, Path
from starlette.responses import Response

from quill.errors import NotFound
from quill.external_access.router import get_service as get_external_access_service
from quill.fhir.port import Resource
from quill.identity.levels import PermissionLevel
from quill.letters.composition import read_letter
from quill.letters.router import get_service as get_letter_service
from quill.patients.resource import nhs_number_of
from quill.patients.router import get_service as get_patient_service
from quill.web.clinical import require_clinical_services
from quill.web.keyset import IdPath
from quill.webapp.notices import notice_for
from quill.webapp.rendering import redirect, render
from quill.webapp.security import Page, SignedIn

router = APIRouter(include_in_schema=False, dependencies=[Depends(require_clinical_services)])

LETTERS_SHOWN = 50
ACCESS_LOG_SHOWN = 50
LetterUid = Annotated[str, Path(min_length=1, max_length=300)]
# The audit actions a patient reads in their access log, in plain words.
ACTIONS = {
    "patient.read": "Read your record", "patient.demographics_read": "Read your details",
    "patient.update": "Changed your details",
    "patient.demographics_update": "Changed your details",
    "patient.metadata_read": "Checked your record's status",
    "letter.list": "Listed your letters", "letter.read": "Read a letter",
    "letter.create": "Wrote a letter",
    "conversation.read": "Read a conversation about you",
    "conversation.create": "Started a conversation about you",
    "conversation.list": "Listed the conversations about you",
    "message.create": "Wrote in a conversation about you",
    "prescription.create": "Wrote a prescription",
    "fhir.read": "Read your record", "fhir.search": "Searched records",
    "external_access.invite": "Sent an invitation to see your record",
    "external_access.accept": "Accepted an invitation to see your record",
    "external_access.revoke": "Withdrew someone's access",
    "external_access.list": "Listed who may see your record",
    "patient.access_log_read": "Read this list",
}
USER_TYPES = {"external_hcp": "Outside clinician", "patient_advocate": "Relative or advocate"}


def own_record(page: Page) -> str:
    """The caller's linked record; 404 for anyone without one (nothing is here for them)."""
    if page.caller.fhir_patient_id is None:
        raise NotFound("No linked record")
    return page.caller.fhir_patient_id


def _uk_birth_date(value: object) -> str:
    """``12 Mar 1970`` from FHIR's ``1970-03-12``; a partial date (``1970-03``) as given."""
    try:
        born = date.fromisoformat(str(value))
    except ValueError:
        return str(value or "")
    return f"{born.day} {born:%b %Y}"


def demographic_facts(patient: Resource) -> list[tuple[str, str]]:
    """What the record says about the person, as (label, text) rows; absent ones left out."""
    names = patient.get("name") or [{}]
    name = names[0] if isinstance(names[0], dict) else {}
    full = " ".join([*name.get("given", []), name.get("family", "")]).strip()
    address = (patient.get("address") or [{}])[0]
    address_text = ", ".join([*address.get("line", []), *(
        address.get(part, "") for part in ("city", "postalCode") if address.get(part))])
    contacts = {item.get("system"): item.get("value")
                for item in patient.get("telecom") or [] if isinstance(item, dict)}
    rows = [("Name", full), ("NHS number", nhs_number_of(patient) or ""),
            ("Date of birth", _uk_birth_date(patient.get("birthDate"))),
            ("Gender", str(patient.get("gender") or "").capitalize()),
            ("Address", address_text), ("Phone", str(contacts.get("phone") or "")),
            ("Email", str(contacts.get("email") or ""))]
    return [(label, text) for label, text in rows if text]


@router.get("/my-record")
async def my_record(page: SignedIn) -> Response:
    if page.caller.fhir_patient_id is None and page.caller.level is PermissionLevel.PATIENT:
        return render(page.request, "my_record_unlinked.html")
    patient_id = own_record(page)
    patient = await (await page.service(get_patient_service)).demographics(patient_id)
    letters = await (await page.service(get_letter_service)).page(
        patient_id, limit=LETTERS_SHOWN, cursor=None)
    return render(page.request, "my_record.html", {
        "facts": demographic_facts(patient), "nhs_number": nhs_number_of(patient),
        "letters": letters.items, "more_letters": letters.next_cursor is not None})


@router.get("/my-record/letters/{composition_uid}")
async def my_letter(composition_uid: LetterUid, page: SignedIn) -> Response:
    stored = await (await page.service(get_letter_service)).read(own_record(page),
                                                                 composition_uid)
    return render(page.request, "my_letter.html", {"letter": read_letter(stored.data)})


async def _access_values(page: Page, patient_id: str) -> dict[str, Any]:
    entries, more = await (await page.service(get_patient_service)).access_log(
        patient_id, limit=ACCESS_LOG_SHOWN, cursor=None)
    grants = await (await page.service(get_external_access_service)).active_grants(patient_id)
    return {"entries": entries, "more_entries": more is not None, "grants": grants,
            "actions": ACTIONS, "user_types": USER_TYPES}


@router.get("/my-record/access")
async def my_access(page: SignedIn, done: str = "") -> Response:
    values = await _access_values(page, own_record(page))
    return render(page.request, "my_access.html", {**values, "notice": notice_for(done)})


@router.post("/my-record/access/{user_id}/withdraw")
async def withdraw_access(user_id: IdPath, page: SignedIn) -> Response:
    service = await page.service(get_external_access_service)
    await service.revoke(own_record(page), user_id)
    return redirect("/my-record/access", done="access-withdrawn")
