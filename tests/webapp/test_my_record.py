"""A patient's own record: demographics read-only, letters, the access log, and who else
may see it, with the same rules and audit entries as the API's routes for the patient."""

from __future__ import annotations

import httpx
from fastapi import FastAPI
from sqlalchemy import select

from quill.access.models import ExternalGrant
from quill.patients.nhs_number import NHS_NUMBER_SYSTEM
from quill.webapp.pages.my_record import demographic_facts
from tests.audit_rows import audit_actions
from tests.helpers import logged_in, make_organisation, make_user, runtime_of
from tests.webapp.support import assert_page_headers, form_token, signed_in

PATIENT = {"resourceType": "Patient", "id": "pat-own",
           "name": [{"given": ["Alice"], "family": "Example"}], "gender": "female",
           "birthDate": "1970-03-12",
           "identifier": [{"system": NHS_NUMBER_SYSTEM, "value": "9434765919"}],
           "telecom": [{"system": "phone", "value": "01632 960000"}]}


async def _record(app: FastAPI) -> int:
    """The patient's record in an organisation, with one letter written by its clinician;
    returns the patient user's id."""
    clinician = await logged_in(app, "dr-own", level="staff", profession="doctor")
    await make_organisation(app, "Surgery", staff=[clinician.user_id], patients=["pat-own"])
    runtime = runtime_of(app)
    async with runtime.session_factory() as db, db.begin():
        await runtime.fhir.store(db).update(PATIENT)
    transport = httpx.ASGITransport(app=app)
    async with httpx.AsyncClient(transport=transport, base_url="http://testserver") as api:
        written = await api.post("/api/patients/pat-own/letters", headers=clinician.headers,
                                 json={"title": "Clinic letter", "body": "All **well**.",
                                       "author_name": "Dr Own"})
        assert written.status_code == 200, written.text
    user = await make_user(app, "alice", fhir_patient_id="pat-own")
    return user.id


async def test_a_patient_reads_their_own_details_and_letters(app: FastAPI) -> None:
    alice = await _record(app)
    async with signed_in(app, "alice") as http:
        home = await http.get("/")
        assert 'href="/my-record"' in home.text
        assert 'action="/patients"' not in home.text  # the staff search is not theirs
        page = await http.get("/my-record")
        assert page.status_code == 200
        assert_page_headers(page)
        text = page.text
        for shown in ("Alice Example", "943 476 5919", "12 Mar 1970", "Female",
                      "01632 960000", "Clinic letter", "Dr Own"):
            assert shown in text, shown
        # Read-only: no form on the page but signing out.
        assert text.count("<form") == 1
        assert "<input" not in text.replace('name="csrf_token"', "").split("<main")[1]
        letter_link = text.split('href="/my-record/letters/')[1].split('"')[0]
        letter = await http.get(f"/my-record/letters/{letter_link}")
        assert letter.status_code == 200
        assert "<strong>well</strong>" in letter.text
        assert (await http.get("/my-record/letters/not-a-letter")).status_code == 404
    actions = await audit_actions(app)
    assert ("patient.demographics_read", "pat-own", alice) in actions
    assert ("letter.list", "pat-own", alice) in actions
    assert ("letter.read", "pat-own", alice) in actions


async def test_the_access_page_shows_the_log_and_withdraws_a_grant_at_once(
        app: FastAPI) -> None:
    await _record(app)
    relative = await make_user(app, "rel-own", level="patient_advocate",
                               profession="patient_advocate")
    runtime = runtime_of(app)
    async with runtime.session_factory() as db, db.begin():
        db.add(ExternalGrant(user_id=relative.id, patient_id="pat-own",
                             user_type="patient_advocate", granted_at=runtime.clock.now(),
                             revoked_at=None))
    async with signed_in(app, "alice") as http:
        access = await http.get("/my-record/access")
        assert access.status_code == 200
        assert_page_headers(access)
        assert "Rel-Own" in access.text
        assert "Relative or advocate" in access.text
        assert "dr-own" in access.text
        assert "Wrote a letter" in access.text
        withdrawn = await http.post(f"/my-record/access/{relative.id}/withdraw",
                                    data={"csrf_token": form_token(access)})
        assert withdrawn.status_code == 303
        after = await http.get(withdrawn.headers["location"])
        assert "Their access has been withdrawn" in after.text
        assert "Nobody else has access." in after.text
        again = await http.post(f"/my-record/access/{relative.id}/withdraw",
                                data={"csrf_token": form_token(access)})
        assert again.status_code == 404
    async with runtime.session_factory() as db:
        grant = (await db.execute(select(ExternalGrant))).scalar_one()
    assert grant.revoked_at is not None


async def test_only_an_account_with_a_linked_record_has_one(app: FastAPI) -> None:
    await make_user(app, "unlinked")
    await make_user(app, "nurse-own", level="staff", profession="registered_nurse")
    async with signed_in(app, "unlinked") as http:
        page = await http.get("/my-record")
        assert page.status_code == 200
        assert "not linked to a health record yet" in page.text
        assert (await http.get("/my-record/access")).status_code == 404
    async with signed_in(app, "nurse-own") as http:
        assert (await http.get("/my-record")).status_code == 404
        assert 'href="/my-record"' not in (await http.get("/")).text


def test_facts_read_the_way_uk_clinicians_write_them() -> None:
    facts = dict(demographic_facts({**PATIENT, "birthDate": "1970-03",
                                    "address": [{"line": ["1 High St"], "city": "Leeds",
                                                 "postalCode": "LS1 1AA"}]}))
    assert facts["Date of birth"] == "1970-03"
    assert facts["Address"] == "1 High St, Leeds, LS1 1AA"
    assert dict(demographic_facts(PATIENT))["Date of birth"] == "12 Mar 1970"
    assert demographic_facts({"resourceType": "Patient"}) == []
