"""Administrator pages for organisations, patients and the audit trail, and how an
organisation's features show in its members' pages."""

from __future__ import annotations

from fastapi import FastAPI
from sqlalchemy import select, update

from quill.access.models import Organisation, OrganisationFeature, PatientMembership
from quill.audit.models import AuditEvent
from quill.patients.models import PatientRecord
from tests.helpers import make_organisation, make_user, runtime_of
from tests.webapp.support import assert_page_headers, form_token, signed_in

VALID_NHS = "9434765919"


async def test_organisations_members_primary_flag_and_features(app: FastAPI) -> None:
    await make_user(app, "boss", level="admin", profession="system_administrator")
    nurse = await make_user(app, "nia", level="staff", profession="registered_nurse")
    await make_organisation(app, "Old home", staff=[nurse.id], patients=["pat-1"])
    async with signed_in(app, "boss") as http:
        token = form_token(await http.get("/admin/organisations"))
        created = await http.post("/admin/organisations", data={
            "csrf_token": token, "name": "  Ward 9 ", "type": "hospital_team", "location": ""})
        assert created.status_code == 303
        oid = int(created.headers["location"].split("/")[3].split("?")[0])
        bad = await http.post("/admin/organisations", data={
            "csrf_token": token, "name": "", "type": "hospital_team", "location": ""})
        assert bad.status_code == 400
        assert "Enter a name" in bad.text
        added = await http.post(f"/admin/organisations/{oid}/staff", data={
            "csrf_token": token, "username": "NIA", "is_primary": "true"})
        assert added.status_code == 303
        unknown = await http.post(f"/admin/organisations/{oid}/staff", data={
            "csrf_token": token, "username": "nobody"})
        assert "No user has that username" in unknown.text
        twice = await http.post(f"/admin/organisations/{oid}/staff", data={
            "csrf_token": token, "username": "nia"})
        assert twice.status_code == 409
        assert "User is already a member of this organisation" in twice.text
        patient = await http.post(f"/admin/organisations/{oid}/patients", data={
            "csrf_token": token, "patient_id": "pat-1", "is_primary": "true"})
        assert patient.status_code == 303
        feature = await http.post(f"/admin/organisations/{oid}/features/letters", data={
            "csrf_token": token, "enabled": "true"}, headers={"HX-Request": "true"})
        assert feature.status_code == 303
        page = await http.get(f"/admin/organisations/{oid}")
        assert_page_headers(page)
        assert "<h1>Ward 9</h1>" in page.text
        assert "Turn off clinical letters" in page.text
        assert "Turn on patient messaging threads" in page.text
        unknown_feature = await http.post(f"/admin/organisations/{oid}/features/x", data={
            "csrf_token": token, "enabled": "true"})
        assert unknown_feature.status_code == 400
        assert "Unknown feature: x" in unknown_feature.text
    async with runtime_of(app).session_factory() as db:
        primary = (await db.execute(select(PatientMembership.organisation_id).where(
            PatientMembership.patient_id == "pat-1", PatientMembership.is_primary))).scalars()
        assert list(primary) == [oid]
        assert (await db.get(Organisation, oid)) is not None
        keys = (await db.execute(select(OrganisationFeature.feature_key).where(
            OrganisationFeature.organisation_id == oid))).scalars()
        assert list(keys) == ["letters"]


async def test_a_feature_switched_off_hides_its_section_for_members_only(app: FastAPI) -> None:
    member = await make_user(app, "nia", level="staff", profession="registered_nurse")
    await make_user(app, "loner", level="staff", profession="registered_nurse")
    oid = await make_organisation(app, "Surgery", staff=[member.id], features=["messaging"])
    async with signed_in(app, "nia") as http:
        assert "My threads" in (await http.get("/")).text
    async with runtime_of(app).session_factory() as db, db.begin():
        await db.execute(update(OrganisationFeature).where(
            OrganisationFeature.organisation_id == oid).values(feature_key="letters"))
    async with signed_in(app, "nia") as http:
        home = await http.get("/")
        assert home.status_code == 200
        assert "My threads" not in home.text
        assert "Find a patient" in home.text
    # Not a member of any organisation: no organisation's switches apply.
    async with signed_in(app, "loner") as http:
        assert "My threads" in (await http.get("/")).text


async def test_patients_created_checked_and_switched_on_and_off(app: FastAPI) -> None:
    await make_user(app, "boss", level="admin", profession="system_administrator")
    async with signed_in(app, "boss") as http:
        page = await http.get("/admin/patients")
        assert 'hx-get="/admin/patients/nhs-number-check"' in page.text
        token = form_token(page)
        for typed, text in (("943 476 5919", "A valid NHS number."), ("943", "3 of 10 digits."),
                            ("9434765918", "not a valid NHS number"), ("", "Optional.")):
            check = await http.get("/admin/patients/nhs-number-check",
                                   params={"nhs_number": typed})
            assert check.status_code == 200, typed
            assert text in check.text, typed
            assert check.text.strip().startswith('<p id="nhs-number-status"')
        wrong = await http.post("/admin/patients", data={
            "csrf_token": token, "given_name": "Ann", "family_name": "Bee",
            "nhs_number": "9434765918"})
        assert wrong.status_code == 400
        assert "not a valid NHS number" in wrong.text
        assert 'value="Ann"' in wrong.text
        made = await http.post("/admin/patients", data={
            "csrf_token": token, "given_name": "Ann", "family_name": "Bee",
            "nhs_number": VALID_NHS, "birth_date": "1980-03-12", "gender": "female"})
        assert made.status_code == 303
        again = await http.post("/admin/patients", data={
            "csrf_token": token, "given_name": "Ann", "family_name": "Twin",
            "nhs_number": VALID_NHS})
        assert again.status_code == 409
        assert "A patient with this NHS number already exists" in again.text
        listed = await http.get(made.headers["location"])
        assert "BEE, Ann" in listed.text
        assert "943 476 5919" in listed.text
        async with runtime_of(app).session_factory() as db:
            pid = (await db.execute(select(PatientRecord.patient_id))).scalar_one()
        off = await http.post(f"/admin/patients/{pid}/activation", data={
            "csrf_token": token, "is_active": "false", "q": "", "show": "all"})
        assert off.headers["location"] == "/admin/patients?done=patient-deactivated&show=all"
        everyone = await http.get("/admin/patients")
        assert "Activate BEE, Ann" in everyone.text
        active_only = await http.get("/admin/patients", params={"show": "active"})
        assert "BEE, Ann" not in active_only.text
        on = await http.post(f"/admin/patients/{pid}/activation", data={
            "csrf_token": token, "is_active": "true"})
        assert on.status_code == 303
        assert "Deactivate BEE, Ann" in (await http.get("/admin/patients")).text
    async with runtime_of(app).session_factory() as db:
        actions = list((await db.execute(select(AuditEvent.action))).scalars())
    for action in ("patient.create", "patient.deactivate", "patient.activate", "patient.list"):
        assert action in actions


async def test_audit_view_shows_the_chain_state_and_filters(app: FastAPI) -> None:
    boss = await make_user(app, "boss", level="admin", profession="system_administrator")
    nurse = await make_user(app, "nia", level="staff", profession="registered_nurse")
    await make_organisation(app, "Surgery", staff=[nurse.id], patients=["pat-1"])
    async with signed_in(app, "nia") as http:
        await http.get("/api/patients/pat-1")
    async with signed_in(app, "boss") as http:
        page = await http.get("/admin/audit")
        assert_page_headers(page)
        assert "The chain is intact" in page.text
        assert "Entries <strong>1</strong> to" in page.text
        by_patient = await http.get("/admin/audit", params={"patient_id": "pat-1"})
        assert by_patient.text.count('class="audit-row"') == 1
        assert "patient.read" in by_patient.text
        by_user = await http.get("/admin/audit", params={"user": "nia"})
        rows = by_user.text.split('id="audit-table"')[1]
        assert "patient.read" in rows
        assert f'/admin/users/{boss.id}"' not in rows
        unknown = await http.get("/admin/audit", params={"user": "nobody"})
        assert unknown.status_code == 400
        assert "No user has that username" in unknown.text
        # Tamper with an entry: the page says where the chain breaks.
        async with runtime_of(app).session_factory() as db, db.begin():
            await db.execute(update(AuditEvent).where(AuditEvent.seq == 2)
                             .values(action="patient.tampered"))
        broken = await http.get("/admin/audit")
        assert "The chain is broken" in broken.text
        assert "Entry 2: content does not match its keyed hash" in broken.text
