"""Administrator user pages: search, create within the level rules, the competencies'
final set shown before saving, link a patient, deactivate and reactivate, set a password."""

from __future__ import annotations

import re

import httpx
from fastapi import FastAPI
from sqlalchemy import select

from quill.audit.models import AuditEvent
from quill.identity.models import User
from tests.helpers import make_organisation, make_user, runtime_of
from tests.webapp.support import assert_page_headers, browser, form_token, sign_in, signed_in


async def _user(app: FastAPI, username: str) -> User:
    async with runtime_of(app).session_factory() as db:
        found = (await db.execute(select(User).where(User.username == username))).scalar_one()
        return found


async def _actions(app: FastAPI) -> list[str]:
    async with runtime_of(app).session_factory() as db:
        return list((await db.execute(select(AuditEvent.action)
                                      .order_by(AuditEvent.seq))).scalars())


async def _token(http: httpx.AsyncClient) -> str:
    return form_token(await http.get("/account"))


async def test_the_list_pages_and_searches(app: FastAPI) -> None:
    await make_user(app, "boss", level="admin", profession="system_administrator")
    for number in range(55):
        await make_user(app, f"nurse{number:02d}", level="staff", profession="registered_nurse")
    await make_user(app, "zed.quinn_%x", level="staff", profession="consultant")
    async with signed_in(app, "boss") as http:
        first = await http.get("/admin/users")
        assert_page_headers(first)
        assert first.text.count('class="user-row"') == 50
        cursor = re.search(r'href="\?cursor=([^"]+)">Next page', first.text)
        assert cursor is not None
        second = await http.get(f"/admin/users?cursor={cursor.group(1)}")
        assert second.text.count('class="user-row"') == 7
        found = await http.get("/admin/users", params={"q": "nurse5"})
        assert found.text.count('class="user-row"') == 5
        by_name = await http.get("/admin/users", params={"q": "QUINN_%"})
        assert by_name.text.count('class="user-row"') == 1
        assert ">zed.quinn_%x<" in by_name.text
        # LIKE wildcards are plain text here: "_" does not match any one character.
        assert (await http.get("/admin/users", params={"q": "nurse_"})).text.count(
            'class="user-row"') == 0


async def test_an_admin_creates_a_clinician_with_competencies(app: FastAPI) -> None:
    await make_user(app, "boss", level="admin", profession="system_administrator")
    async with signed_in(app, "boss") as http:
        form = await http.get("/admin/users/new")
        # An admin is offered only the levels the users service lets them give.
        assert '<option value="admin"' not in form.text
        assert '<option value="staff"' in form.text
        token = form_token(form)
        created = await http.post("/admin/users", data={
            "csrf_token": token, "name": "Dr Rhea Reid", "email": "rhea@example.org",
            "username": "rhea", "password": "long enough password",
            "system_permissions": "staff", "base_profession": "registered_nurse",
            "additional": ["prescribe_controlled_schedule_2"],
            "removed": ["perform_cannulation"]})
        assert created.status_code == 303, created.text
        rhea = await _user(app, "rhea")
        assert created.headers["location"] == f"/admin/users/{rhea.id}?done=user-created"
        assert rhea.additional_competencies == ["prescribe_controlled_schedule_2"]
        assert rhea.removed_competencies == ["perform_cannulation"]
        page = await http.get(created.headers["location"])
        assert "The user has been created." in page.text
        final = page.text.split('id="final-competencies"')[1].split("</section>")[0]
        assert "prescribe_controlled_schedule_2" in final
        assert "perform_cannulation" not in final
    assert "user.create" in await _actions(app)


async def test_only_a_superadmin_makes_an_admin(app: FastAPI) -> None:
    await make_user(app, "boss", level="admin", profession="system_administrator")
    await make_user(app, "root", level="superadmin", profession="system_administrator")
    body = {"name": "Ada", "email": "ada@example.org", "username": "ada",
            "password": "long enough password", "system_permissions": "admin",
            "base_profession": "system_administrator"}
    async with signed_in(app, "boss") as http:
        refused = await http.post("/admin/users", data={**body, "csrf_token": await _token(http)})
        assert refused.status_code == 403
        assert "Only a superadmin may grant admin or superadmin" in refused.text
        assert 'value="ada@example.org"' in refused.text  # typed values kept
        assert "long enough password" not in refused.text  # never the password
    async with signed_in(app, "root") as http:
        form = await http.get("/admin/users/new")
        assert '<option value="admin"' in form.text
        made = await http.post("/admin/users", data={**body, "csrf_token": form_token(form)})
        assert made.status_code == 303
    assert (await _user(app, "ada")).system_permissions == "admin"


async def test_the_final_set_is_previewed_before_saving(app: FastAPI) -> None:
    await make_user(app, "boss", level="admin", profession="system_administrator")
    nurse = await make_user(app, "nia", level="staff", profession="registered_nurse")
    async with signed_in(app, "boss") as http:
        token = await _token(http)
        preview = await http.post(f"/admin/users/{nurse.id}/competencies/preview", data={
            "csrf_token": token, "additional": ["interpret_ecg"],
            "removed": ["perform_venepuncture"]}, headers={"HX-Request": "true"})
        assert preview.status_code == 200
        final = preview.text.split('id="final-competencies"')[1].split("</section>")[0]
        assert "interpret_ecg" in final
        assert "perform_venepuncture" not in final
        assert "Not saved yet" in preview.text
        # Nothing saved by a preview.
        assert (await _user(app, "nia")).additional_competencies == []
        saved = await http.post(f"/admin/users/{nurse.id}/competencies", data={
            "csrf_token": token, "additional": ["interpret_ecg"],
            "removed": ["perform_venepuncture"]})
        assert saved.status_code == 303
    nia = await _user(app, "nia")
    assert (nia.additional_competencies, nia.removed_competencies) == (
        ["interpret_ecg"], ["perform_venepuncture"])
    assert "user.competencies_change" in await _actions(app)


async def test_refusals_are_messages_and_change_nothing(app: FastAPI) -> None:
    boss = await make_user(app, "boss", level="admin", profession="system_administrator")
    await make_user(app, "taken", level="staff", profession="registered_nurse")
    nurse = await make_user(app, "nia", level="staff", profession="registered_nurse")
    async with signed_in(app, "boss") as http:
        token = await _token(http)
        own = await http.post(f"/admin/users/{boss.id}/competencies", data={
            "csrf_token": token, "additional": ["interpret_ecg"]})
        assert own.status_code == 403
        assert "You cannot change your own competencies" in own.text
        clash = await http.post(f"/admin/users/{nurse.id}", data={
            "csrf_token": token, "name": "Changed Name", "username": "taken",
            "email": "nia@example.org", "system_permissions": "staff",
            "base_profession": "consultant"})
        assert clash.status_code == 400
        assert "Username already exists" in clash.text
        short = await http.post(f"/admin/users/{nurse.id}/password", data={
            "csrf_token": token, "new_password": "short", "confirm_password": "short"})
        assert short.status_code == 400
        assert "Password too short" in short.text
        mismatch = await http.post(f"/admin/users/{nurse.id}/password", data={
            "csrf_token": token, "new_password": "long enough one",
            "confirm_password": "long enough two"})
        assert "The two passwords are not the same" in mismatch.text
        self_off = await http.post(f"/admin/users/{boss.id}/activation", data={
            "csrf_token": token, "is_active": "false"})
        assert self_off.status_code == 403
        assert "You cannot deactivate or reactivate your own account" in self_off.text
    nia = await _user(app, "nia")
    # The refused update changed nothing, not even the parts before the refusal.
    assert (nia.full_name, nia.base_profession) == ("Nia", "registered_nurse")
    assert (await _user(app, "boss")).additional_competencies == []


async def test_link_deactivate_reactivate_and_set_password(app: FastAPI) -> None:
    await make_user(app, "boss", level="admin", profession="system_administrator")
    paul = await make_user(app, "paul", level="patient", profession="patient")
    await make_organisation(app, "Surgery", patients=["pat-paul"])
    async with signed_in(app, "paul") as patient_browser:
        assert (await patient_browser.get("/account")).status_code == 200
        async with signed_in(app, "boss") as http:
            token = await _token(http)
            missing = await http.post(f"/admin/users/{paul.id}/link-patient", data={
                "csrf_token": token, "fhir_patient_id": "no-such-patient"})
            assert missing.status_code == 404
            assert "Patient not found" in missing.text
            linked = await http.post(f"/admin/users/{paul.id}/link-patient", data={
                "csrf_token": token, "fhir_patient_id": "pat-paul"})
            assert linked.status_code == 303
            assert (await _user(app, "paul")).fhir_patient_id == "pat-paul"
            off = await http.post(f"/admin/users/{paul.id}/activation", data={
                "csrf_token": token, "is_active": "false"})
            assert off.headers["location"].endswith("done=user-deactivated")
            # Their sessions ended at once.
            assert (await patient_browser.get("/account")).status_code == 303
            on = await http.post(f"/admin/users/{paul.id}/activation", data={
                "csrf_token": token, "is_active": "true"})
            assert on.status_code == 303
            reset = await http.post(f"/admin/users/{paul.id}/password", data={
                "csrf_token": token, "new_password": "a brand new password",
                "confirm_password": "a brand new password"})
            assert reset.headers["location"].endswith("done=password-set")
    async with browser(app) as fresh:
        assert (await sign_in(fresh, "paul", "a brand new password")).status_code == 303
    actions = await _actions(app)
    for action in ("user.link_patient", "user.deactivate", "user.reactivate", "user.update"):
        assert action in actions
