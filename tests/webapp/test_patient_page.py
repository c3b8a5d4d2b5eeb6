"""The patient list and the patient page: what each person sees, and who sees nothing."""

from __future__ import annotations

import re

from fastapi import FastAPI
from sqlalchemy import select

from quill.email.models import OutboxEmail
from tests.audit_rows import audit_actions
from tests.helpers import make_organisation, runtime_of
from tests.webapp.patient_world import (
    HIDDEN,
    PATIENT,
    add_threads,
    make_clinic,
    store_patient,
)
from tests.webapp.support import assert_page_headers, form_token, signed_in

ROW = re.compile(r'<tr class="patient-row">\s*<th scope="row"><a href="/patients/([^"]+)">')


async def test_the_list_searches_by_name_prefix_or_nhs_number(app: FastAPI) -> None:
    clinic = await make_clinic(app)
    async with signed_in(app, "dr-page") as http:
        everyone = await http.get("/patients")
        assert everyone.status_code == 200
        assert_page_headers(everyone)
        assert ROW.findall(everyone.text) == [PATIENT]  # never the other clinic's patient
        assert "LOVELACE, Ada" in everyone.text
        assert "943 476 5919" in everyone.text
        assert "12 Mar 1980" in everyone.text
        by_name = await http.get("/patients", params={"q": "Lov"})
        assert ROW.findall(by_name.text) == [PATIENT]
        by_nhs = await http.get("/patients", params={"q": "943 476 5919"})
        assert ROW.findall(by_nhs.text) == [PATIENT]
        nobody = await http.get("/patients", params={"q": "Hidden"})
        assert ROW.findall(nobody.text) == []
        assert "No patient you can see matches" in nobody.text
    assert ("patient.list", None, clinic.clinician.id) in await audit_actions(app)


async def test_the_list_pages_with_a_cursor(app: FastAPI) -> None:
    clinic = await make_clinic(app)
    await make_organisation(app, "More", staff=[clinic.clinician.id], primary=False,
                            patients=[f"extra-{n:02d}" for n in range(30)])
    for n in range(30):
        await store_patient(app, f"extra-{n:02d}", given="Extra", family=f"Person{n:02d}")
    async with signed_in(app, "dr-page") as http:
        first = await http.get("/patients")
        shown = ROW.findall(first.text)
        assert len(shown) == 25
        link = re.search(r'<a href="(/patients\?cursor=[^"]+)" rel="next">', first.text)
        assert link is not None
        second = await http.get(link.group(1).replace("&amp;", "&"))
        rest = ROW.findall(second.text)
        assert len(rest) == 6
        assert not set(rest) & set(shown)
        assert 'rel="next"' not in second.text
        assert "First page" in second.text


async def test_the_patient_page_shows_details_in_uk_formats(app: FastAPI) -> None:
    clinic = await make_clinic(app)
    await add_threads(app, PATIENT, clinic.clinician.id, 1, 2)
    async with signed_in(app, "dr-page") as http:
        page = await http.get(f"/patients/{PATIENT}")
        assert page.status_code == 200
        assert_page_headers(page)
        assert form_token(page)
        text = page.text
        assert '<h1 class="patient-banner__name">LOVELACE, Ada</h1>' in text
        assert "<dd>943 476 5919</dd>" in text
        assert "<dd>12 Mar 1980</dd>" in text
        assert 'href="/threads/1">Thread 1</a>' in text
        assert 'href="/threads/2">Thread 2</a>' in text
        assert f'href="/threads/new?patient_id={PATIENT}"' in text
        assert f'href="/patients/{PATIENT}/details"' in text
    actions = await audit_actions(app)
    for action in ("patient.read", "letter.list", "conversation.list", "prescription.list"):
        assert (action, PATIENT, clinic.clinician.id) in actions, action


async def test_a_patient_the_caller_may_not_see_is_a_404(app: FastAPI) -> None:
    await make_clinic(app)
    paths = ["", "/details", "/letters", "/letters/new", "/letters/some-uid"]
    async with signed_in(app, "dr-page") as http:
        for suffix in paths:
            for patient_id in (HIDDEN, "no-such-patient"):
                response = await http.get(f"/patients/{patient_id}{suffix}")
                assert response.status_code == 404, (patient_id, suffix)
                assert "Page not found" in response.text
                assert_page_headers(response)
                assert "Hidden" not in response.text
        token = form_token(await http.get("/patients"))
        for action in ("details", "letters", "letters/preview", "prescriptions", "invite"):
            posted = await http.post(f"/patients/{HIDDEN}/{action}",
                                     data={"csrf_token": token, "title": "x"})
            assert posted.status_code == 404, action


async def test_every_patient_form_is_refused_without_its_csrf_token(app: FastAPI) -> None:
    await make_clinic(app)
    async with signed_in(app, "dr-page") as http:
        for action in ("details", "letters", "letters/preview", "prescriptions", "invite"):
            for data in ({"title": "x"}, {"csrf_token": "forged", "title": "x"}):
                response = await http.post(f"/patients/{PATIENT}/{action}", data=data)
                assert response.status_code == 403, (action, data)
                assert "You cannot do that" in response.text


async def test_prescriptions_only_for_those_with_the_competency(app: FastAPI) -> None:
    clinic = await make_clinic(app)
    async with signed_in(app, "nurse-page") as http:
        page = await http.get(f"/patients/{PATIENT}")
        assert page.status_code == 200
        assert 'id="prescriptions"' not in page.text
        assert "Controlled prescriptions" not in page.text
        token = form_token(page)
        refused = await http.post(f"/patients/{PATIENT}/prescriptions", data={
            "csrf_token": token, "medication": "Morphine", "dose": "10 mg",
            "duration_days": "5"})
        assert refused.status_code == 403
    async with signed_in(app, "dr-page") as http:
        page = await http.get(f"/patients/{PATIENT}")
        token = form_token(page)
        assert 'id="prescriptions"' in page.text
        bad = await http.post(f"/patients/{PATIENT}/prescriptions", data={
            "csrf_token": token, "medication": "Oxycodone 5 mg capsules", "dose": "",
            "duration_days": "400"})
        assert bad.status_code == 400
        assert "Enter the dose and how often" in bad.text
        assert "Enter the number of days, from 1 to 366" in bad.text
        assert 'value="Oxycodone 5 mg capsules"' in bad.text
        made = await http.post(f"/patients/{PATIENT}/prescriptions", data={
            "csrf_token": token, "medication": "Oxycodone 5 mg capsules",
            "dose": "5 mg every 6 hours", "duration_days": "5"})
        assert made.status_code == 303
        assert made.headers["location"] == f"/patients/{PATIENT}?done=prescribed"
        after = await http.get(made.headers["location"])
        assert "The prescription has been saved" in after.text
        assert after.text.count('class="prescription-row"') == 1
        assert "<th scope=\"row\">Oxycodone 5 mg capsules</th>" in after.text
        assert "by Dr-Page" in after.text
    assert ("prescription.create", PATIENT, clinic.clinician.id) in await audit_actions(app)


async def test_the_access_log_only_for_those_allowed(app: FastAPI) -> None:
    await make_clinic(app)
    async with signed_in(app, "dr-page") as http:
        page = await http.get(f"/patients/{PATIENT}")
        assert 'id="access-log"' not in page.text
        assert "Who has accessed the record" not in page.text
    async with signed_in(app, "admin-page") as http:
        page = await http.get(f"/patients/{PATIENT}")
        assert 'id="access-log"' in page.text
        # The clinician's visit above is in the log, by name.
        assert re.search(r'<td data-label="Who">dr-page</td>\s*<td data-label="What">'
                         r'patient.read</td>', page.text)


async def test_inviting_someone_from_outside_sends_the_email(app: FastAPI) -> None:
    await make_clinic(app)
    async with signed_in(app, "dr-page") as http:
        page = await http.get(f"/patients/{PATIENT}")
        # ExternalAccessService's rule: a clinician may see the record, not hand out access.
        assert "Only the patient or an admin may manage external access." in page.text
        assert f'action="/patients/{PATIENT}/invite"' not in page.text
        refused = await http.post(f"/patients/{PATIENT}/invite", data={
            "csrf_token": form_token(page), "email": "kin@example.org",
            "user_type": "patient_advocate"})
        assert refused.status_code == 403
    async with signed_in(app, "admin-page") as http:
        page = await http.get(f"/patients/{PATIENT}")
        assert "Nobody from outside has access" in page.text
        token = form_token(page)
        bad = await http.post(f"/patients/{PATIENT}/invite", data={
            "csrf_token": token, "email": "not an address", "user_type": ""})
        assert bad.status_code == 400
        assert "Enter an email address" in bad.text
        assert "Choose who you are inviting" in bad.text
        sent = await http.post(f"/patients/{PATIENT}/invite", data={
            "csrf_token": token, "email": "Kin@Example.org", "user_type": "patient_advocate"})
        assert sent.status_code == 303
        assert sent.headers["location"] == f"/patients/{PATIENT}?done=invite-sent"
    mail = await outbox(app)
    assert [m.recipient for m in mail] == ["kin@example.org"]
    assert "/accept-invite?token=" in mail[0].body
    assert "Lovelace" not in mail[0].body


async def outbox(app: FastAPI) -> list[OutboxEmail]:
    async with runtime_of(app).session_factory() as db:
        return list((await db.execute(select(OutboxEmail))).scalars().all())
