"""Changing a patient's details (with the version conflict) and writing letters."""

from __future__ import annotations

import re

from fastapi import FastAPI

from tests.audit_rows import audit_actions
from tests.helpers import make_user
from tests.webapp.patient_world import PATIENT, make_clinic
from tests.webapp.support import assert_page_headers, form_token, signed_in

VERSION = re.compile(r'name="version" value="([^"]*)"')


def _details(token: str, version: str, **changes: str) -> dict[str, str]:
    return {"csrf_token": token, "version": version, "given_name": "Ada",
            "family_name": "Lovelace", "birth_date": "1980-03-12", "gender": "female",
            "nhs_number": "943 476 5919", **changes}


async def test_changing_details_saves_them(app: FastAPI) -> None:
    clinic = await make_clinic(app)
    async with signed_in(app, "dr-page") as http:
        form = await http.get(f"/patients/{PATIENT}/details")
        assert form.status_code == 200
        assert_page_headers(form)
        version = VERSION.search(form.text)
        assert version is not None
        assert version.group(1)
        assert 'value="1980-03-12"' in form.text
        saved = await http.post(f"/patients/{PATIENT}/details", data=_details(
            form_token(form), version.group(1), family_name="King", birth_date="1981-12-10"))
        assert saved.status_code == 303
        assert saved.headers["location"] == f"/patients/{PATIENT}?done=details-saved"
        page = await http.get(saved.headers["location"])
        assert "The patient&#39;s details have been saved." in page.text
        assert "KING, Ada" in page.text
        assert "<dd>10 Dec 1981</dd>" in page.text
    assert ("patient.update", PATIENT, clinic.clinician.id) in await audit_actions(app)


async def test_a_stale_edit_shows_the_conflict_with_the_current_details(
        app: FastAPI) -> None:
    await make_clinic(app)
    async with signed_in(app, "dr-page") as first, signed_in(app, "nurse-page") as second:
        mine = await first.get(f"/patients/{PATIENT}/details")
        theirs = await second.get(f"/patients/{PATIENT}/details")
        stale = VERSION.search(mine.text)
        assert stale is not None
        their_version = VERSION.search(theirs.text)
        assert their_version is not None
        done = await second.post(f"/patients/{PATIENT}/details", data=_details(
            form_token(theirs), their_version.group(1), family_name="Byron"))
        assert done.status_code == 303
        conflict = await first.post(f"/patients/{PATIENT}/details", data=_details(
            form_token(mine), stale.group(1), given_name="Augusta"))
        assert conflict.status_code == 409
        assert_page_headers(conflict)
        assert "Someone else changed these details first" in conflict.text
        assert "Your changes were not saved" in conflict.text
        # The form now holds the details as they are, and the version they are at.
        assert 'id="family_name" name="family_name" type="text" value="Byron"' in conflict.text
        fresh = VERSION.search(conflict.text)
        assert fresh is not None
        assert fresh.group(1) != stale.group(1)
        # What this person typed is shown so it can be entered again.
        assert "<dd>Augusta</dd>" in conflict.text
        page = await first.get(f"/patients/{PATIENT}")
        assert "BYRON, Ada" in page.text  # the other change stands, nothing half-written
        again = await first.post(f"/patients/{PATIENT}/details", data=_details(
            form_token(conflict), fresh.group(1), given_name="Augusta",
            family_name="Byron"))
        assert again.status_code == 303


async def test_details_with_mistakes_are_shown_again(app: FastAPI) -> None:
    await make_clinic(app)
    async with signed_in(app, "dr-page") as http:
        form = await http.get(f"/patients/{PATIENT}/details")
        version = VERSION.search(form.text)
        assert version is not None
        bad = await http.post(f"/patients/{PATIENT}/details", data=_details(
            form_token(form), version.group(1), given_name="", nhs_number="1234567890"))
        assert bad.status_code == 400
        assert "Enter the first name" in bad.text
        wrong_nhs = await http.post(f"/patients/{PATIENT}/details", data=_details(
            form_token(form), version.group(1), nhs_number="1234567890"))
        assert wrong_nhs.status_code == 400
        assert "Invalid NHS number" in wrong_nhs.text
        assert 'value="1234567890"' in wrong_nhs.text
        page = await http.get(f"/patients/{PATIENT}")
        assert "<dd>943 476 5919</dd>" in page.text


async def test_only_staff_change_details(app: FastAPI) -> None:
    await make_clinic(app)
    await make_user(app, "the-patient", fhir_patient_id=PATIENT)
    async with signed_in(app, "the-patient") as http:
        page = await http.get(f"/patients/{PATIENT}")
        assert page.status_code == 200
        assert "Change details" not in page.text
        assert (await http.get(f"/patients/{PATIENT}/details")).status_code == 403
        refused = await http.post(f"/patients/{PATIENT}/details", data=_details(
            form_token(page), "1", family_name="Mine"))
        assert refused.status_code == 403


UNSAFE_LETTER = ("Dear colleague,\n\n**Diagnosis**: *stable*\n\n"
                 "<script>alert('x')</script>\n\n[click](javascript:alert(1))\n\n"
                 "<img src=x onerror=alert(1)>")


def _assert_safe(html: str) -> None:
    assert "<script" not in html
    assert 'href="javascript:' not in html  # left as plain text, never a link
    assert "<img" not in html
    assert "&lt;img src=x" in html
    assert "<strong>Diagnosis</strong>" in html
    assert "<em>stable</em>" in html


async def test_a_letter_preview_renders_markdown_safely(app: FastAPI) -> None:
    await make_clinic(app)
    async with signed_in(app, "dr-page") as http:
        form = await http.get(f"/patients/{PATIENT}/letters/new")
        assert form.status_code == 200
        assert_page_headers(form)
        data = {"csrf_token": form_token(form), "title": "Clinic letter",
                "body": UNSAFE_LETTER}
        preview = await http.post(f"/patients/{PATIENT}/letters/preview", data=data)
        assert preview.status_code == 200
        assert_page_headers(preview)
        section = preview.text.split('id="letter-preview"', 1)[1]
        _assert_safe(section)
        # The typed text is kept in the form (escaped), nothing was stored.
        assert "&lt;script&gt;alert(&#39;x&#39;)&lt;/script&gt;" in preview.text
        listing = await http.get(f"/patients/{PATIENT}/letters")
        assert "No letters yet." in listing.text
        swap = await http.post(f"/patients/{PATIENT}/letters/preview", data=data,
                               headers={"HX-Request": "true"})
        assert swap.status_code == 200
        assert 'id="letter-preview"' in swap.text


async def test_writing_and_reading_a_letter(app: FastAPI) -> None:
    clinic = await make_clinic(app)
    async with signed_in(app, "dr-page") as http:
        form = await http.get(f"/patients/{PATIENT}/letters/new")
        token = form_token(form)
        untitled = await http.post(f"/patients/{PATIENT}/letters", data={
            "csrf_token": token, "title": "", "body": "text"})
        assert untitled.status_code == 400
        assert "Enter a title" in untitled.text
        saved = await http.post(f"/patients/{PATIENT}/letters", data={
            "csrf_token": token, "title": "Clinic letter", "body": UNSAFE_LETTER})
        assert saved.status_code == 303
        location = saved.headers["location"]
        assert location.startswith(f"/patients/{PATIENT}/letters/")
        assert location.endswith("?done=letter-saved")
        letter = await http.get(location)
        assert letter.status_code == 200
        assert_page_headers(letter)
        assert "The letter has been saved" in letter.text
        assert '<h1 id="letter-title">Clinic letter</h1>' in letter.text
        assert "Dr-Page" in letter.text
        _assert_safe(letter.text.split('class="letter__body"', 1)[1])
        page = await http.get(f"/patients/{PATIENT}")
        link = re.search(r'<a href="(/patients/[^"]+/letters/[^"]+)">Clinic letter</a>',
                         page.text)
        assert link is not None
        assert link.group(1) == location.split("?")[0]
        assert (await http.get(link.group(1))).status_code == 200
    async with signed_in(app, "dr-away") as other:
        assert (await other.get(location.split("?")[0])).status_code == 404
    actions = await audit_actions(app)
    assert ("letter.create", PATIENT, clinic.clinician.id) in actions
    assert ("letter.read", PATIENT, clinic.clinician.id) in actions
