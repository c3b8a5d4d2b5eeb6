"""A clinician's patient work in a real browser: find a patient, change their details, write
a letter with a preview; a stale change shows the conflict; another clinic's patient is a
404."""

from __future__ import annotations

import re

from playwright.sync_api import Browser, Page, expect

from tests.helpers import DEFAULT_PASSWORD
from tests.webapp.browser import LiveServer
from tests.webapp.patient_world import HIDDEN, PATIENT, make_clinic


def _sign_in(page: Page, server: LiveServer, username: str) -> list[str]:
    blocked: list[str] = []
    page.on("console", lambda message: blocked.append(message.text)
            if "Content Security Policy" in message.text else None)
    page.goto(f"{server.url}/sign-in")
    page.get_by_label("Username").fill(username)
    page.get_by_label("Password").fill(DEFAULT_PASSWORD)
    page.get_by_role("button", name="Sign in").click()
    expect(page.get_by_role("heading", name=re.compile("^Hello"))).to_be_visible()
    return blocked


def test_find_a_patient_change_details_and_write_a_letter(live_server: LiveServer,
                                                          browser: Browser) -> None:
    live_server.call(make_clinic, live_server.app)
    context = browser.new_context()
    page = context.new_page()
    blocked = _sign_in(page, live_server, "dr-page")
    page.get_by_role("link", name="Patients").click()
    page.get_by_label("Name or NHS number").fill("Lov")
    page.get_by_role("button", name="Search").click()
    expect(page).to_have_url(re.compile(r"/patients\?q=Lov$"))
    page.get_by_role("link", name="LOVELACE, Ada").click()
    expect(page.get_by_role("heading", name="LOVELACE, Ada", level=1)).to_be_visible()
    expect(page.locator(".patient-banner")).to_contain_text("943 476 5919")
    expect(page.locator(".patient-banner")).to_contain_text("12 Mar 1980")

    page.get_by_role("link", name="Change details").click()
    page.get_by_label("Last name").fill("King")
    page.get_by_role("button", name="Save details").click()
    expect(page.get_by_role("status")).to_contain_text("The patient's details have been saved")
    expect(page.get_by_role("heading", name="KING, Ada", level=1)).to_be_visible()

    page.get_by_role("link", name="Write a letter").click()
    page.get_by_label("Title").fill("Clinic letter")
    page.get_by_label("Letter", exact=True).fill(
        "Dear colleague,\n\n**Plan**: review in 6 weeks.\n\n<script>alert(1)</script>")
    page.get_by_role("button", name="Preview").click()
    preview = page.locator("#letter-preview")
    expect(preview.locator(".letter__body strong")).to_have_text("Plan")
    expect(preview).to_contain_text("<script>alert(1)</script>")  # shown as text only
    # htmx swapped the preview in place: still the writing page, the text still typed.
    assert page.url.endswith(f"/patients/{PATIENT}/letters/new")
    expect(page.get_by_label("Title")).to_have_value("Clinic letter")
    page.get_by_role("button", name="Save letter").click()
    expect(page.get_by_role("heading", name="Clinic letter")).to_be_visible()
    expect(page.locator(".letter__body strong")).to_have_text("Plan")
    page.get_by_role("link", name="Back to the patient").click()
    expect(page.locator("#letters")).to_contain_text("Clinic letter")
    assert blocked == []
    context.close()


def test_a_stale_details_change_shows_the_conflict(live_server: LiveServer,
                                                   browser: Browser) -> None:
    live_server.call(make_clinic, live_server.app)
    first_context, second_context = browser.new_context(), browser.new_context()
    first, second = first_context.new_page(), second_context.new_page()
    _sign_in(first, live_server, "dr-page")
    _sign_in(second, live_server, "nurse-page")
    for page in (first, second):
        page.goto(f"{live_server.url}/patients/{PATIENT}/details")
    second.get_by_label("Last name").fill("Byron")
    second.get_by_role("button", name="Save details").click()
    expect(second.get_by_role("status")).to_contain_text("have been saved")
    first.get_by_label("First name").fill("Augusta")
    first.get_by_role("button", name="Save details").click()
    expect(first.get_by_role("alert")).to_contain_text(
        "Someone else changed these details first")
    expect(first.get_by_label("Last name")).to_have_value("Byron")
    expect(first.get_by_label("First name")).to_have_value("Ada")
    first.get_by_label("First name").fill("Augusta")
    first.get_by_role("button", name="Save details").click()
    expect(first.get_by_role("heading", name="BYRON, Augusta", level=1)).to_be_visible()
    first_context.close()
    second_context.close()


def test_another_clinics_patient_is_a_404(live_server: LiveServer, browser: Browser) -> None:
    live_server.call(make_clinic, live_server.app)
    context = browser.new_context()
    page = context.new_page()
    _sign_in(page, live_server, "dr-page")
    answer = page.goto(f"{live_server.url}/patients/{HIDDEN}")
    assert answer is not None
    assert answer.status == 404
    expect(page.get_by_role("heading", name="Page not found")).to_be_visible()
    expect(page.get_by_text("Hidden")).to_have_count(0)
    context.close()
