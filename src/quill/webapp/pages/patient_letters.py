"""A patient's letters: the list, one letter, and writing one with a preview.

All through LetterService, as /api/patients/{id}/letters: the same access check, the
same audit entries, the same LetterIn limits. Letters are Markdown, shown through the
``markdown`` filter (no raw HTML, sanitised). The preview is the form page again with the
rendered text; htmx swaps only the preview in, and without JavaScript the page reloads.
"""

from __future__ import annotations

from typing import Annotated
from urllib.parse import quote

from fastapi import APIRouter, Depends, Path, Query
from starlette.responses import Response

from quill.auth.deps import require_staff
from quill.letters.composition import read_letter
from quill.letters.router import get_service as get_letter_service
from quill.letters.schemas import LetterIn
from quill.patients.router import get_service as get_patient_service
from quill.web.clinical import require_clinical_services
from quill.webapp.forms import form_values, validate
from quill.webapp.notices import notice_for
from quill.webapp.pages import patient_sections as sections
from quill.webapp.pages.patient_view import PatientView
from quill.webapp.rendering import redirect, render
from quill.webapp.security import Page, SignedIn, VisiblePatient

router = APIRouter(include_in_schema=False, dependencies=[Depends(require_clinical_services)])

LetterUid = Annotated[str, Path(min_length=1, max_length=300)]
CursorQuery = Annotated[str | None, Query(max_length=500)]
LETTERS_PER_PAGE = 25
LETTER_FIELDS = ("title", "body")
LETTER_MESSAGES = {"title": "Enter a title of up to 500 characters",
                   "body": "The letter is too long (up to 100,000 characters)"}


def letter_path(patient_id: str, uid: str) -> str:
    return f"/patients/{patient_id}/letters/{quote(uid, safe='')}"


async def _patient(page: Page, patient_id: str) -> PatientView:
    """The patient the page is about (read, and audited, as the patient page does)."""
    return PatientView.of(await (await page.service(get_patient_service)).read(patient_id))


@router.get("/patients/{patient_id}/letters")
async def letter_list(patient_id: VisiblePatient, page: SignedIn, cursor: CursorQuery = None
                      ) -> Response:
    letters, next_cursor = await sections.letters(page, patient_id, limit=LETTERS_PER_PAGE,
                                                  cursor=cursor or None)
    return render(page.request, "patients/letters.html", {
        "patient": await _patient(page, patient_id), "letters": letters,
        "next_page": (f"/patients/{patient_id}/letters?cursor={quote(next_cursor)}"
                      if next_cursor else None),
        "first_page": bool(cursor),
    })


def _writing_page(page: Page, patient: PatientView, values: dict[str, str], *,
                  preview: bool = False, errors: dict[str, str] | None = None,
                  status_code: int = 200) -> Response:
    return render(page.request, "patients/letter_new.html", {
        "patient": patient, "values": values, "preview": preview, "errors": errors or {},
    }, status_code=status_code)


@router.get("/patients/{patient_id}/letters/new")
async def new_letter(patient_id: VisiblePatient, page: SignedIn) -> Response:
    await require_staff(page.caller)  # the API's gate on writing a letter
    return _writing_page(page, await _patient(page, patient_id), {"title": "", "body": ""})


@router.post("/patients/{patient_id}/letters/preview")
async def preview_letter(patient_id: VisiblePatient, page: SignedIn) -> Response:
    """Nothing is stored: the form again, with the letter as it will read."""
    await require_staff(page.caller)
    values = await form_values(page.request, *LETTER_FIELDS)
    return _writing_page(page, await _patient(page, patient_id), values, preview=True)


@router.post("/patients/{patient_id}/letters")
async def save_letter(patient_id: VisiblePatient, page: SignedIn) -> Response:
    await require_staff(page.caller)
    values = await form_values(page.request, *LETTER_FIELDS)
    author = page.caller.user.full_name or page.caller.username
    body, errors = validate(LetterIn, {**values, "author_name": author}, LETTER_MESSAGES)
    if body is None:
        return _writing_page(page, await _patient(page, patient_id), values, errors=errors,
                             status_code=400)
    uid = await (await page.service(get_letter_service)).create(patient_id, body)
    return redirect(letter_path(patient_id, str(uid)), done="letter-saved")


@router.get("/patients/{patient_id}/letters/{composition_uid}")
async def show_letter(patient_id: VisiblePatient, composition_uid: LetterUid, page: SignedIn,
                      done: str = "") -> Response:
    stored = await (await page.service(get_letter_service)).read(patient_id, composition_uid)
    return render(page.request, "patients/letter.html", {
        "patient": await _patient(page, patient_id), "letter": read_letter(stored.data),
        "notice": notice_for(done),
    })
