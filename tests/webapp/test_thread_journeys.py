"""Thread journeys in Chromium: a second clinician's message arrives live in the first
one's open thread; start, reply, amend and close a thread; the notifications switch."""

from __future__ import annotations

import json
import re
import time

from fastapi import FastAPI
from playwright.sync_api import Browser, Page, expect
from sqlalchemy import select

from quill.events.bus import InProcessEventBus
from quill.push.models import PushSubscription
from tests.helpers import DEFAULT_PASSWORD, make_organisation, make_user, runtime_of
from tests.push.pushservice import Browser as PushBrowser
from tests.webapp.browser import LiveServer, open_context

LIVE_WAIT_MS = 15_000


def _sign_in(page: Page, server: LiveServer, username: str) -> None:
    page.goto(f"{server.url}/sign-in")
    page.get_by_label("Username").fill(username)
    page.get_by_label("Password").fill(DEFAULT_PASSWORD)
    page.get_by_role("button", name="Sign in").click()
    expect(page.get_by_role("heading", name=re.compile("^Hello"))).to_be_visible()


def _watch_csp(page: Page) -> list[str]:
    blocked: list[str] = []
    page.on("console", lambda message: blocked.append(message.text)
            if "Content Security Policy" in message.text else None)
    return blocked


async def _surgery(app: FastAPI, *usernames: str) -> None:
    ids = [(await make_user(app, name, level="staff", profession="doctor")).id
           for name in usernames]
    await make_organisation(app, "Surgery", staff=ids, patients=["p1"])


def _start_thread(page: Page, server: LiveServer, subject: str, message: str,
                  *people: str) -> int:
    page.goto(f"{server.url}/threads/new?patient_id=p1")
    page.get_by_label("Subject").fill(subject)
    for person in people:
        page.get_by_label(person).check()
    page.get_by_label("First message").fill(message)
    page.get_by_role("button", name="Start thread").click()
    expect(page.get_by_text("Your thread has started.")).to_be_visible()
    match = re.search(r"/threads/(\d+)", page.url)
    assert match is not None, page.url
    return int(match.group(1))


def _wait_for_stream(server: LiveServer, streams: int) -> None:
    """Until the server holds ``streams`` live event subscriptions (bounded)."""
    bus = runtime_of(server.app).events
    assert isinstance(bus, InProcessEventBus)
    deadline = time.monotonic() + LIVE_WAIT_MS / 1000
    while bus.subscriber_count < streams:
        assert time.monotonic() < deadline, "the thread page never opened its event stream"
        time.sleep(0.05)


def test_a_colleagues_message_arrives_live_in_my_open_thread(live_server: LiveServer,
                                                            browser: Browser) -> None:
    live_server.call(_surgery, live_server.app, "amara", "ben")
    first, second = open_context(browser), open_context(browser)
    mine, theirs = first.new_page(), second.new_page()
    blocked = _watch_csp(mine)
    _sign_in(mine, live_server, "amara")
    _sign_in(theirs, live_server, "ben")
    thread_id = _start_thread(mine, live_server, "Warfarin dose", "INR 4.1 today.",
                              "Ben (ben)")
    mine.goto(f"{live_server.url}/threads/{thread_id}")
    mine.evaluate("window.quillNoReload = true")
    _wait_for_stream(live_server, 1)

    theirs.goto(f"{live_server.url}/threads/{thread_id}")
    theirs.get_by_label("Your reply").fill("Hold tonight's dose, recheck Friday.")
    theirs.get_by_role("button", name="Send reply").click()
    expect(theirs.get_by_text("Your reply has been sent.")).to_be_visible()

    arrived = mine.locator("#messages .message").filter(
        has_text="Hold tonight's dose, recheck Friday.")
    expect(arrived).to_be_visible(timeout=LIVE_WAIT_MS)
    expect(arrived).to_contain_text("Ben")
    # Ben's reply made the new thread active: the status changed in place too.
    expect(mine.locator("#thread-status")).to_have_text("Active", timeout=LIVE_WAIT_MS)
    assert mine.evaluate("window.quillNoReload") is True  # no reload happened
    assert mine.locator("#messages .message").count() == 2
    assert blocked == []
    first.close()
    second.close()


def test_start_reply_amend_and_close_a_thread(live_server: LiveServer,
                                              browser: Browser) -> None:
    live_server.call(_surgery, live_server.app, "chidi", "dana")
    context = open_context(browser)
    page = context.new_page()
    blocked = _watch_csp(page)
    _sign_in(page, live_server, "chidi")
    page.get_by_role("link", name="Threads").click()
    expect(page.get_by_role("heading", name="My threads")).to_be_visible()
    thread_id = _start_thread(page, live_server, "Discharge letter",
                              "Letter drafted, please check.", "Dana (dana)")
    page.get_by_label("Your reply").fill("Added the medication list.")
    page.get_by_role("button", name="Send reply").click()
    expect(page.get_by_text("Your reply has been sent.")).to_be_visible()

    reply = page.locator("#messages .message").filter(has_text="Added the medication list.")
    reply.get_by_text("Amend this message").click()
    reply.get_by_label("Amended text").fill("Added the medication list and allergies.")
    reply.get_by_role("button", name="Save amendment").click()
    expect(page.get_by_text("Your amendment has been added.")).to_be_visible()
    expect(page.locator("#messages .message")).to_have_count(3)
    expect(page.locator("#messages .message").nth(1)).to_contain_text("Amended")
    expect(page.locator("#messages .message").nth(2)).to_contain_text("Amendment")

    page.get_by_label("Change the status to").select_option("closed")
    page.get_by_role("button", name="Change status").click()
    expect(page.get_by_text("The status has been changed.")).to_be_visible()
    expect(page.locator("#thread-status")).to_have_text("Closed")
    expect(page.get_by_text("This thread is closed.")).to_be_visible()

    page.get_by_role("link", name="My threads").click()
    page.get_by_label("Show").select_option("closed")
    page.get_by_role("button", name="Show").click()
    expect(page.get_by_role("link", name="Discharge letter")).to_have_attribute(
        "href", f"/threads/{thread_id}")
    assert blocked == []
    context.close()


def test_the_service_worker_is_served_for_the_whole_site(live_server: LiveServer,
                                                         browser: Browser) -> None:
    context = open_context(browser)
    page = context.new_page()
    answer = page.goto(f"{live_server.url}/sw.js")
    assert answer is not None
    assert answer.status == 200
    assert answer.headers["content-type"].startswith("text/javascript")
    assert answer.headers["service-worker-allowed"] == "/"
    assert "notificationclick" in answer.text()
    context.close()


def test_the_switch_subscribes_this_browser(live_server: LiveServer, browser: Browser) -> None:
    """The page's script registers /sw.js for the whole site, fetches the VAPID key and
    posts the subscription with its CSRF header; turning it off deletes it again.

    Headless Chromium has no push service to subscribe with (it cannot reach one here),
    so only ``PushManager.subscribe`` is replaced, by one answering a subscription of a
    test browser's keys: everything else (service worker, key, CSRF, API) is real.
    """
    live_server.call(_surgery, live_server.app, "esi")
    subscription = PushBrowser().subscription(f"{live_server.url}/push-endpoint")
    context = open_context(browser)
    context.grant_permissions(["notifications"], origin=live_server.url)
    context.add_init_script(script=_fake_subscribe(subscription))
    page = context.new_page()
    blocked = _watch_csp(page)
    _sign_in(page, live_server, "esi")
    page.goto(f"{live_server.url}/account")
    page.get_by_role("link", name=re.compile("notifications of new messages")).click()
    switch = page.get_by_role("switch", name="Show notifications of new messages")
    expect(switch).to_be_enabled()
    expect(switch).not_to_be_checked()
    with page.expect_response(f"{live_server.url}/api/push/subscribe") as posted:
        switch.check()
    assert posted.value.status == 200
    expect(page.get_by_role("status")).to_contain_text("On: this browser shows")
    scope = page.evaluate("navigator.serviceWorker.getRegistration()"
                          ".then(function (r) { return r && r.scope; })")
    assert scope == f"{live_server.url}/"
    stored = live_server.call(_subscriptions, live_server.app)
    assert stored == [subscription["endpoint"]]
    with page.expect_response(f"{live_server.url}/api/push/subscribe") as deleted:
        switch.uncheck()
    assert deleted.value.status == 200
    expect(page.get_by_role("status")).to_contain_text("Off: this browser")
    assert live_server.call(_subscriptions, live_server.app) == []
    assert blocked == []
    context.close()


async def _subscriptions(app: FastAPI) -> list[str]:
    async with runtime_of(app).session_factory() as db:
        return list((await db.execute(select(PushSubscription.endpoint))).scalars())


def _fake_subscribe(subscription: dict[str, object]) -> str:
    """An init script: PushManager answers with the given subscription (and forgets it
    on unsubscribe), as a browser with a reachable push service would."""
    return f"""
(function () {{
  if (!window.PushManager) {{ return; }}
  var stored = null;
  var data = {json.dumps(subscription)};
  function make() {{
    return {{ endpoint: data.endpoint, toJSON: function () {{ return data; }},
             unsubscribe: function () {{ stored = null; return Promise.resolve(true); }} }};
  }}
  PushManager.prototype.subscribe = function (options) {{
    if (!options || !options.applicationServerKey ||
        options.applicationServerKey.length !== 65) {{
      return Promise.reject(new Error("no VAPID key"));
    }}
    stored = make();
    return Promise.resolve(stored);
  }};
  PushManager.prototype.getSubscription = function () {{ return Promise.resolve(stored); }};
}})();
"""
