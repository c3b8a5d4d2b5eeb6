"""Administrator journeys in a real browser: a new clinician who then prescribes on the
patient's page, the admin-making rule, and a feature switched off for an organisation's
members."""

from __future__ import annotations

import re

from playwright.sync_api import Browser, Page, expect

from tests.helpers import DEFAULT_PASSWORD, make_organisation, make_user
from tests.webapp.browser import LiveServer, open_context
from tests.webapp.patient_world import store_patient


def _sign_in(page: Page, server: LiveServer, username: str,
             password: str = DEFAULT_PASSWORD) -> None:
    page.goto(f"{server.url}/sign-in")
    page.get_by_label("Username").fill(username)
    page.get_by_label("Password").fill(password)
    page.get_by_role("button", name="Sign in").click()
    expect(page.get_by_role("button", name="Sign out")).to_be_visible()


def _watch_csp(page: Page) -> list[str]:
    blocked: list[str] = []
    page.on("console", lambda message: blocked.append(message.text)
            if "Content Security Policy" in message.text else None)
    return blocked


def test_admin_creates_a_clinician_who_then_prescribes(live_server: LiveServer,
                                                       browser: Browser) -> None:
    live_server.call(make_user, live_server.app, "ada", level="admin",
                     profession="system_administrator")
    live_server.call(make_organisation, live_server.app, "Riverside", patients=["pat-rx"])
    live_server.call(store_patient, live_server.app, "pat-rx", given="Rex", family="Oakes")
    admin_context, clinician_context = open_context(browser), open_context(browser)
    admin = admin_context.new_page()
    blocked = _watch_csp(admin)
    _sign_in(admin, live_server, "ada")
    admin.get_by_role("link", name="Administration").click()
    admin.get_by_role("link", name="Users", exact=True).first.click()
    admin.get_by_role("link", name="Create a user").click()
    admin.get_by_label("Full name").fill("Dr Cleo Clark")
    admin.get_by_label("Email address").fill("cleo@example.org")
    admin.get_by_label("Username").fill("cleo")
    admin.get_by_label("First password").fill("cleo's first password")
    admin.get_by_label("Level").select_option("staff")
    admin.get_by_label("Profession").select_option("registered_nurse")
    final = admin.locator("#final-competencies")
    expect(final).not_to_contain_text("prescribe_controlled_schedule_2")
    admin.get_by_label("Add Prescribe Schedule 2 controlled drugs").check()
    # htmx swapped in the final set as it will be, without a reload.
    expect(final).to_contain_text("prescribe_controlled_schedule_2")
    admin.get_by_role("button", name="Create user").click()
    expect(admin.get_by_text("The user has been created.")).to_be_visible()
    # Into the organisation that holds the patient.
    admin.get_by_role("link", name="Organisations", exact=True).first.click()
    admin.get_by_role("link", name="Riverside").click()
    admin.get_by_label("Add a staff member by username").fill("cleo")
    admin.get_by_label("Make this their primary organisation").check()
    admin.get_by_role("button", name="Add staff member").click()
    expect(admin.get_by_text("The staff member has been added.")).to_be_visible()
    assert blocked == []

    clinician = clinician_context.new_page()
    blocked = _watch_csp(clinician)
    _sign_in(clinician, live_server, "cleo", "cleo's first password")
    clinician.goto(f"{live_server.url}/patients/pat-rx")
    prescriptions = clinician.locator("#prescriptions")
    prescriptions.get_by_label("Medicine, strength and form").fill(
        "Morphine sulfate 10 mg tablets")
    prescriptions.get_by_label("Dose and frequency").fill("10 mg every 4 hours when required")
    prescriptions.get_by_label("Number of days").fill("7")
    prescriptions.get_by_role("button", name="Prescribe").click()
    expect(clinician.get_by_role("status")).to_contain_text("The prescription has been saved")
    expect(clinician.locator("#prescriptions")).to_contain_text("Morphine sulfate 10 mg tablets")
    assert blocked == []
    admin_context.close()
    clinician_context.close()


def test_an_admin_cannot_make_an_admin_and_a_superadmin_can(live_server: LiveServer,
                                                           browser: Browser) -> None:
    live_server.call(make_user, live_server.app, "ada", level="admin",
                     profession="system_administrator")
    live_server.call(make_user, live_server.app, "sam", level="superadmin",
                     profession="system_administrator")
    context = open_context(browser)
    page = context.new_page()
    _sign_in(page, live_server, "ada")
    page.goto(f"{live_server.url}/admin/users/new")
    level = page.get_by_label("Level")
    expect(level.locator("option[value=admin]")).to_have_count(0)
    # Even a forged choice is refused by the users service, and said so.
    page.evaluate("const o = document.createElement('option'); o.value = 'admin';"
                  "o.textContent = 'Admin'; document.getElementById('system_permissions')"
                  ".append(o)")
    page.get_by_label("Full name").fill("Eve Admin")
    page.get_by_label("Email address").fill("eve@example.org")
    page.get_by_label("First password").fill("eve's first password")
    level.select_option("admin")
    page.get_by_role("button", name="Create user").click()
    expect(page.get_by_role("alert")).to_contain_text(
        "Only a superadmin may grant admin or superadmin")
    context.close()

    context = open_context(browser)
    page = context.new_page()
    _sign_in(page, live_server, "sam")
    page.goto(f"{live_server.url}/admin/users/new")
    page.get_by_label("Full name").fill("Eve Admin")
    page.get_by_label("Email address").fill("eve@example.org")
    page.get_by_label("First password").fill("eve's first password")
    page.get_by_label("Level").select_option("admin")
    page.get_by_label("Profession").select_option("system_administrator")
    page.get_by_role("button", name="Create user").click()
    expect(page.get_by_text("The user has been created.")).to_be_visible()
    expect(page.locator(".lead")).to_contain_text("Admin")
    context.close()


def test_a_feature_switched_off_hides_its_part_for_members(live_server: LiveServer,
                                                          browser: Browser) -> None:
    live_server.call(make_user, live_server.app, "ada", level="admin",
                     profession="system_administrator")
    nurse = live_server.call(make_user, live_server.app, "nia", level="staff",
                             profession="registered_nurse")
    oid = live_server.call(make_organisation, live_server.app, "Elm Street",
                           staff=[nurse.id], features=["messaging", "letters"])
    member_context, admin_context = open_context(browser), open_context(browser)
    member = member_context.new_page()
    _sign_in(member, live_server, "nia")
    expect(member.get_by_role("heading", name="My threads")).to_be_visible()
    expect(member.get_by_role("link", name="Administration")).to_have_count(0)

    admin = admin_context.new_page()
    _sign_in(admin, live_server, "ada")
    admin.goto(f"{live_server.url}/admin/organisations/{oid}")
    admin.get_by_role("button", name="Turn off patient messaging threads").click()
    # The features list was swapped in place by htmx.
    expect(admin.get_by_role("button", name="Turn on patient messaging threads")).to_be_visible()
    assert re.search(rf"/admin/organisations/{oid}$", admin.url)

    member.reload()
    expect(member.get_by_role("heading", name=re.compile("^Hello"))).to_be_visible()
    expect(member.get_by_role("heading", name="My threads")).to_have_count(0)
    member_context.close()
    admin_context.close()
