"""Journeys in a real browser (Chromium via Playwright) against a live Quill server.

Later journeys follow the same shape: create the people with ``live_server.call``, open
one context per person with ``open_context(browser)``, act through labels and roles as a
user would.
"""

from __future__ import annotations

import re

from playwright.sync_api import Browser, Page, expect

from tests.helpers import DEFAULT_PASSWORD, make_user
from tests.webapp.browser import WAIT_MS, LiveServer, open_context


def _watch_csp(page: Page) -> list[str]:
    """Console reports of anything the page's Content-Security-Policy blocked."""
    blocked: list[str] = []
    page.on("console", lambda message: blocked.append(message.text)
            if "Content Security Policy" in message.text else None)
    return blocked


def _sign_in(page: Page, server: LiveServer, username: str) -> None:
    page.goto(f"{server.url}/sign-in")
    page.get_by_label("Username").fill(username)
    page.get_by_label("Password").fill(DEFAULT_PASSWORD)
    page.get_by_role("button", name="Sign in").click()


def test_sign_in_see_home_and_sign_out(live_server: LiveServer, browser: Browser) -> None:
    live_server.call(make_user, live_server.app, "nadia", level="staff", profession="doctor")
    context = open_context(browser)
    page = context.new_page()
    blocked = _watch_csp(page)
    page.goto(f"{live_server.url}/account")
    expect(page).to_have_url(re.compile(r"/sign-in\?next=%2Faccount$"))
    page.get_by_label("Username").fill("nadia")
    page.get_by_label("Password").fill("wrong password")
    page.get_by_role("button", name="Sign in").click()
    expect(page.get_by_role("alert")).to_contain_text("The username or password is not right.")
    expect(page.get_by_label("Username")).to_have_value("nadia")
    page.get_by_label("Password").fill(DEFAULT_PASSWORD)
    page.get_by_role("button", name="Sign in").click()
    expect(page.get_by_role("heading", name="My account")).to_be_visible()
    page.get_by_role("link", name="Home").click()
    expect(page.get_by_role("heading", name="Hello, Nadia")).to_be_visible()
    expect(page.get_by_label("Name or NHS number")).to_be_visible()
    # Our script and htmx loaded under the strict CSP, and nothing was blocked.
    # The scripts are deferred: the heading can show before they have run.
    page.wait_for_function("typeof htmx === 'object'", timeout=WAIT_MS)
    assert page.evaluate("typeof htmx") == "object"
    page.get_by_role("button", name="Sign out").click()
    expect(page.get_by_text("You have signed out.")).to_be_visible()
    page.goto(f"{live_server.url}/")
    expect(page).to_have_url(re.compile(r"/sign-in$"))
    assert blocked == []
    context.close()


def test_a_form_without_its_csrf_token_is_refused(live_server: LiveServer,
                                                  browser: Browser) -> None:
    live_server.call(make_user, live_server.app, "omar", level="staff", profession="nurse")
    context = open_context(browser)
    page = context.new_page()
    _sign_in(page, live_server, "omar")
    page.goto(f"{live_server.url}/account")
    page.evaluate("document.querySelector('form[action=\"/account/password\"] "
                  "input[name=csrf_token]').remove()")
    page.get_by_label("Current password").fill(DEFAULT_PASSWORD)
    page.get_by_label("New password", exact=True).fill("a brand new passphrase")
    page.get_by_label("New password again").fill("a brand new passphrase")
    with page.expect_response(f"{live_server.url}/account/password") as answer:
        page.get_by_role("button", name="Change password").click()
    assert answer.value.status == 403
    expect(page.get_by_role("heading", name="You cannot do that")).to_be_visible()
    context.close()


def test_ending_another_session_swaps_the_list_in_place(live_server: LiveServer,
                                                         browser: Browser) -> None:
    live_server.call(make_user, live_server.app, "pia", level="staff", profession="doctor")
    desk, phone = open_context(browser), open_context(browser)
    page, other = desk.new_page(), phone.new_page()
    blocked = _watch_csp(page)
    _sign_in(other, live_server, "pia")
    _sign_in(page, live_server, "pia")
    page.goto(f"{live_server.url}/account")
    sessions = page.locator(".session-list__item")
    expect(sessions).to_have_count(2)
    page.get_by_role("button", name="End this session").click()
    expect(sessions).to_have_count(1)
    # htmx swapped the list in place: still the same page, not a reload.
    assert page.url == f"{live_server.url}/account"
    other.goto(f"{live_server.url}/account")
    expect(other).to_have_url(re.compile(r"/sign-in"))
    assert blocked == []
    desk.close()
    phone.close()
