"""Journeys of patients and relatives in Chromium: a patient replies in a thread that
includes them, sees a clinician's answer arrive live, and cannot open the staff's own
thread; a relative accepts an invite, sees exactly one patient, and none once the patient
has withdrawn the access."""

from __future__ import annotations

import re
import time
from dataclasses import dataclass

import httpx
from fastapi import FastAPI
from playwright.sync_api import Browser, Page, expect

from quill.events.bus import InProcessEventBus
from tests.helpers import (
    DEFAULT_PASSWORD,
    bearer_headers,
    make_organisation,
    make_user,
    runtime_of,
)
from tests.webapp.browser import WAIT_MS, LiveServer, open_context

NEW_PASSWORD = "a relative's own passphrase"


@dataclass(frozen=True)
class Clinic:
    clinician_headers: dict[str, str]
    admin_headers: dict[str, str]


async def _clinic(app: FastAPI) -> Clinic:
    """Dr Lee's surgery holds Pat Jones (linked to the patient user ``pat``) and Sam
    Other; an admin can issue invites."""
    doctor = await make_user(app, "dr-lee", level="staff", profession="doctor")
    admin = await make_user(app, "ada", level="admin", profession="system_administrator")
    await make_organisation(app, "Surgery", staff=[doctor.id], patients=["pat-j", "pat-o"])
    runtime = runtime_of(app)
    async with runtime.session_factory() as db, db.begin():
        store = runtime.fhir.store(db)
        for pid, given, family in (("pat-j", "Pat", "Jones"), ("pat-o", "Sam", "Other")):
            await store.update({"resourceType": "Patient", "id": pid,
                                "name": [{"given": [given], "family": family}]})
    await make_user(app, "pat", fhir_patient_id="pat-j")
    return Clinic(await bearer_headers(app, doctor), await bearer_headers(app, admin))


def _api(server: LiveServer) -> httpx.Client:
    return httpx.Client(base_url=server.url, timeout=30)


def _sign_in(page: Page, server: LiveServer, username: str,
             password: str = DEFAULT_PASSWORD) -> None:
    page.goto(f"{server.url}/sign-in")
    page.get_by_label("Username").fill(username)
    page.get_by_label("Password").fill(password)
    page.get_by_role("button", name="Sign in").click()
    expect(page.get_by_role("heading", name=re.compile("^Hello"))).to_be_visible()


def _thread(api: httpx.Client, clinic: Clinic, subject: str, *, with_patient: bool) -> int:
    made = api.post("/api/conversations", headers=clinic.clinician_headers, json={
        "patient_id": "pat-j", "subject": subject, "initial_message": f"About {subject}.",
        "include_patient_as_participant": with_patient})
    assert made.status_code in (200, 201), made.text
    return int(made.json()["id"])


def _wait_for_stream(server: LiveServer) -> None:
    """Until the open thread page holds its live event stream (a bounded poll)."""
    bus = runtime_of(server.app).events
    assert isinstance(bus, InProcessEventBus)
    deadline = time.monotonic() + WAIT_MS / 1000
    while bus.subscriber_count < 1:
        assert time.monotonic() < deadline, "the thread page opened no event stream"
        time.sleep(0.05)


def test_a_patient_replies_in_their_thread_and_cannot_open_the_staff_thread(
        live_server: LiveServer, browser: Browser) -> None:
    clinic = live_server.call(_clinic, live_server.app)
    with _api(live_server) as api:
        shared = _thread(api, clinic, "Your blood test", with_patient=True)
        staff_only = _thread(api, clinic, "Team discussion", with_patient=False)
    context = open_context(browser)
    page = context.new_page()
    _sign_in(page, live_server, "pat")
    # Home: only the thread that includes them, and no staff controls.
    expect(page.get_by_role("link", name="Your blood test")).to_be_visible()
    expect(page.get_by_text("Team discussion")).to_have_count(0)
    expect(page.get_by_label("Name or NHS number")).to_have_count(0)
    expect(page.get_by_role("link", name="My record")).to_be_visible()

    page.get_by_role("link", name="Your blood test").click()
    expect(page.get_by_text("About Your blood test.")).to_be_visible()
    expect(page.get_by_role("button", name="Join this thread")).to_have_count(0)
    page.get_by_label("Your reply").fill("Thank you, is it normal?")
    page.get_by_role("button", name="Send reply").click()
    expect(page.get_by_text("Your reply has been sent.")).to_be_visible()
    expect(page.locator("#messages .message").filter(has_text="is it normal?")).to_be_visible()

    # The clinician answers through the API: it arrives in the open page without a reload.
    page.evaluate("window.quillNoReload = true")
    _wait_for_stream(live_server)
    with _api(live_server) as api:
        answered = api.post(f"/api/conversations/{shared}/messages",
                            headers=clinic.clinician_headers,
                            json={"body": "Yes, all within range."})
        assert answered.status_code in (200, 201), answered.text
    expect(page.locator("#messages .message").filter(has_text="all within range")
           ).to_be_visible()
    assert page.evaluate("window.quillNoReload") is True

    answer = page.goto(f"{live_server.url}/threads/{staff_only}")
    assert answer is not None
    assert answer.status == 404
    expect(page.get_by_role("heading", name="Page not found")).to_be_visible()
    context.close()


def _issue_invite(server: LiveServer, clinic: Clinic) -> str:
    with _api(server) as api:
        issued = api.post("/api/patients/pat-j/invite-external", headers=clinic.admin_headers,
                          json={"email": "rel@example.org", "user_type": "patient_advocate"})
    assert issued.status_code == 200, issued.text
    url = str(issued.json()["invite_url"])
    assert url.startswith(f"{server.url}/accept-invite?token=")
    return url


def test_a_relative_accepts_an_invite_sees_one_patient_then_none(
        live_server: LiveServer, browser: Browser) -> None:
    clinic = live_server.call(_clinic, live_server.app)
    invite_url = _issue_invite(live_server, clinic)
    relative_context, patient_context = open_context(browser), open_context(browser)
    relative, patient = relative_context.new_page(), patient_context.new_page()

    relative.goto(invite_url)  # the link exactly as the email carries it
    expect(relative.get_by_text("rel@example.org")).to_be_visible()
    relative.get_by_label("Choose a username").fill("rel")
    relative.get_by_label("Choose a password").fill(NEW_PASSWORD)
    relative.get_by_label("Password again").fill(NEW_PASSWORD)
    relative.get_by_role("button", name="Create account and accept").click()
    expect(relative.get_by_text("the invitation accepted")).to_be_visible()
    _sign_in(relative, live_server, "rel", NEW_PASSWORD)
    relative.get_by_role("link", name="My patients").click()
    rows = relative.locator(".patient-row")
    expect(rows).to_have_count(1)
    expect(rows.first).to_contain_text("JONES, Pat")
    relative.goto(invite_url)  # spent now
    expect(relative.get_by_role("heading", name="This invitation cannot be used")
           ).to_be_visible()

    _sign_in(patient, live_server, "pat")
    patient.get_by_role("link", name="My record").click()
    patient.get_by_role("link", name=re.compile("who else may see it")).click()
    patient.get_by_role("button", name=re.compile("Withdraw access for")).click()
    expect(patient.get_by_text("Their access has been withdrawn.")).to_be_visible()

    relative.goto(f"{live_server.url}/patients")
    expect(relative.get_by_text("You have no patients yet.")).to_be_visible()
    expect(relative.locator(".patient-row")).to_have_count(0)
    gone = relative.goto(f"{live_server.url}/patients/pat-j")
    assert gone is not None
    assert gone.status == 404
    relative_context.close()
    patient_context.close()
