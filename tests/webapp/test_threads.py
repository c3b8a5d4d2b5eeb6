"""Thread pages with JavaScript off: the list, starting a thread, the thread page with
reply, amend, status and participants, the live-update fragment, and the API's policy
(404, audit entries, events after commit) behind every one of them."""

from __future__ import annotations

import asyncio
import re
from dataclasses import dataclass

import httpx
from fastapi import FastAPI
from sqlalchemy import select

from quill.audit.models import AuditEvent
from tests.helpers import make_organisation, make_user, runtime_of
from tests.statements import count_statements
from tests.webapp.support import assert_page_headers, form_token, signed_in

THREAD_PATH = re.compile(r"^/threads/(\d+)\?done=thread-started$")


@dataclass(frozen=True)
class Team:
    ann: int
    bob: int
    cat: int


async def _team(app: FastAPI) -> Team:
    """Three clinicians of one surgery with patient p1; an outsider in another surgery."""
    ann = await make_user(app, "ann", level="staff", profession="doctor")
    bob = await make_user(app, "bob", level="staff", profession="nurse")
    cat = await make_user(app, "cat", level="staff", profession="doctor")
    outsider = await make_user(app, "out", level="staff", profession="doctor")
    await make_organisation(app, "Surgery", staff=[ann.id, bob.id, cat.id], patients=["p1"])
    await make_organisation(app, "Elsewhere", staff=[outsider.id], patients=["p2"])
    return Team(ann.id, bob.id, cat.id)


async def _start(http: httpx.AsyncClient, *participants: int, subject: str = "Potassium",
                 message: str = "K+ 5.9 this morning, please review.") -> int:
    form = await http.get("/threads/new?patient_id=p1")
    assert form.status_code == 200
    response = await http.post("/threads/new", data={
        "csrf_token": form_token(form), "patient_id": "p1", "subject": subject,
        "participant_ids": [str(p) for p in participants], "initial_message": message})
    assert response.status_code == 303, response.text
    match = THREAD_PATH.match(response.headers["location"])
    assert match is not None, response.headers["location"]
    return int(match.group(1))


async def _post(http: httpx.AsyncClient, path: str, **data: str) -> httpx.Response:
    token = form_token(await http.get("/threads"))
    return await http.post(path, data={"csrf_token": token, **data})


def _message_ids(html: str) -> list[int]:
    return [int(found) for found in re.findall(r'id="message-(\d+)"', html)]


async def _audit_actions(app: FastAPI) -> list[str]:
    async with runtime_of(app).session_factory() as db:
        rows = await db.execute(select(AuditEvent.action).order_by(AuditEvent.seq))
        return list(rows.scalars())


async def test_start_a_thread_with_chosen_people_and_read_it(app: FastAPI) -> None:
    team = await _team(app)
    async with signed_in(app, "ann") as ann:
        form = await ann.get("/threads/new?patient_id=p1")
        assert_page_headers(form)
        # The picker offers colleagues who may see p1, never the outsider nor oneself.
        assert f'value="{team.bob}"' in form.text
        assert f'value="{team.cat}"' in form.text
        assert f'value="{team.ann}"' not in form.text
        assert "Out (out)" not in form.text
        thread_id = await _start(ann, team.bob)
        page = await ann.get(f"/threads/{thread_id}?done=thread-started")
        assert page.status_code == 200
        assert_page_headers(page)
        assert "Your thread has started" in page.text
        assert "K+ 5.9 this morning, please review." in page.text
        assert 'sse-connect="/api/conversations/events"' in page.text
        assert f'data-live-thread="{thread_id}"' in page.text
    async with signed_in(app, "bob") as bob:
        listing = await bob.get("/threads")
        assert_page_headers(listing)
        assert "Potassium" in listing.text
        assert "1 unread" in listing.text
        opened = await bob.get(f"/threads/{thread_id}")
        assert opened.status_code == 200
        # Reading the page marks it read, as POST /api/conversations/{id}/read does.
        assert "unread" not in (await bob.get("/threads")).text
    async with signed_in(app, "cat") as cat:
        # A colleague who is not in the thread may read it (staff see the patient's
        # threads) but is not a participant: no reply form, a way to join instead.
        seen = await cat.get(f"/threads/{thread_id}")
        assert seen.status_code == 200
        assert 'id="reply-form"' not in seen.text
        assert "Join this thread" in seen.text
        joined = await _post(cat, f"/threads/{thread_id}/join")
        assert joined.headers["location"] == f"/threads/{thread_id}?done=thread-joined"
        assert 'id="reply-form"' in (await cat.get(f"/threads/{thread_id}")).text
    actions = await _audit_actions(app)
    assert actions.count("conversation.create") == 1
    assert actions.count("conversation.read") == 4  # ann once, bob once, cat twice
    assert actions.count("conversation.participant") == 1


async def test_a_thread_the_caller_may_not_see_is_a_404_page(app: FastAPI) -> None:
    team = await _team(app)
    async with signed_in(app, "ann") as ann:
        thread_id = await _start(ann, team.bob)
    async with signed_in(app, "out") as outsider:
        for path in (f"/threads/{thread_id}", f"/threads/{thread_id}/messages?after=0",
                     f"/threads/{thread_id}/participants",
                     "/threads/999999", "/threads/new?patient_id=p1"):
            response = await outsider.get(path)
            assert response.status_code == 404, path
            assert "Page not found" in response.text
            assert_page_headers(response)
        for path, data in ((f"/threads/{thread_id}/messages", {"body": "hello"}),
                           (f"/threads/{thread_id}/status", {"status": "closed"}),
                           (f"/threads/{thread_id}/participants", {"user_id": "1"})):
            assert (await _post(outsider, path, **data)).status_code == 404, path
        assert "Potassium" not in (await outsider.get("/threads")).text
    async with signed_in(app, "ann") as ann:
        page = await ann.get(f"/threads/{thread_id}")
        assert len(_message_ids(page.text)) == 1
        assert "hello" not in page.text
        assert '<span id="thread-status" class="status status--new">' in page.text


async def test_reply_amend_status_and_add_someone_with_forms(app: FastAPI) -> None:
    team = await _team(app)
    async with signed_in(app, "ann") as ann:
        thread_id = await _start(ann, team.bob)
        path = f"/threads/{thread_id}"
        sent = await _post(ann, f"{path}/messages", body="Repeat U&E tomorrow.")
        assert sent.status_code == 303
        assert sent.headers["location"] == f"{path}?done=message-sent"
        page = await ann.get(sent.headers["location"])
        assert "Your reply has been sent." in page.text
        first, reply = _message_ids(page.text)
        amended = await _post(ann, f"{path}/messages", body="Repeat U&E today.",
                              amends_id=str(reply))
        assert amended.headers["location"] == f"{path}?done=message-amended"
        page = await ann.get(path)
        assert _message_ids(page.text) == [first, reply, reply + 1]
        assert f'<a href="#message-{reply + 1}">see the amendment</a>' in page.text
        assert "Repeat U&amp;E tomorrow." in page.text  # the original stays
        status = await _post(ann, f"{path}/status", status="resolved")
        assert status.headers["location"] == f"{path}?done=status-changed"
        assert "status--resolved" in (await ann.get(path)).text
        people = await ann.get(f"{path}/participants")
        assert_page_headers(people)
        assert f'<option value="{team.cat}">Cat (cat)</option>' in people.text
        assert f'<option value="{team.bob}">' not in people.text  # already in it
        added = await _post(ann, f"{path}/participants", user_id=str(team.cat))
        assert added.headers["location"] == f"{path}?done=participant-added"
        page = await ann.get(path)
        assert "Cat" in page.text.split('id="participants"', 1)[1].split("</ul>", 1)[0]
    async with signed_in(app, "bob") as bob:
        # Only one's own messages can be amended.
        refused = await _post(bob, f"{path}/messages", body="Not mine", amends_id=str(first))
        assert refused.status_code == 400
        assert "amends_id must be one of your own messages" in refused.text
    actions = await _audit_actions(app)
    assert actions.count("message.create") == 2
    assert actions.count("conversation.status") == 1
    assert actions.count("conversation.participant") == 1


async def test_fixable_mistakes_show_the_page_again_with_the_message(app: FastAPI) -> None:
    team = await _team(app)
    async with signed_in(app, "ann") as ann:
        empty = await ann.post("/threads/new", data={
            "csrf_token": form_token(await ann.get("/threads/new?patient_id=p1")),
            "patient_id": "p1", "subject": "Kept", "initial_message": "  "})
        assert empty.status_code == 400
        assert "Write the first message" in empty.text
        assert 'value="Kept"' in empty.text
        thread_id = await _start(ann, team.bob)
        path = f"/threads/{thread_id}"
        blank = await _post(ann, f"{path}/messages", body=" ")
        assert blank.status_code == 400
        assert "Write a message" in blank.text
        assert (await _post(ann, f"{path}/status", status="active")).status_code == 303
        bad_move = await _post(ann, f"{path}/status", status="new")
        assert bad_move.status_code == 400
        assert "Cannot change status" in bad_move.text
        unknown = await _post(ann, f"{path}/status", status="archived")
        assert unknown.status_code == 400
        again = await _post(ann, f"{path}/participants", user_id=str(team.bob))
        assert again.status_code == 409
        assert "already a participant" in again.text
        outsider = await _post(ann, f"{path}/participants", user_id="not a number")
        assert outsider.status_code == 400
        assert (await _post(ann, f"{path}/status", status="closed")).status_code == 303
        closed = await _post(ann, f"{path}/messages", body="One more thing")
        assert closed.status_code == 409
        assert "Conversation is closed" in closed.text
        assert "One more thing" in closed.text
        page = await ann.get(path)
        assert 'id="reply-form"' not in page.text
        assert "This thread is closed" in page.text
        assert len(_message_ids(page.text)) == 1


async def test_the_list_filters_by_status_and_pages(app: FastAPI) -> None:
    team = await _team(app)
    async with signed_in(app, "ann") as ann:
        ids = [await _start(ann, team.bob, subject=f"Thread {n}") for n in range(27)]
        await _post(ann, f"/threads/{ids[0]}/status", status="closed")
        first = await ann.get("/threads")
        assert first.text.count('class="thread-list__item') == 25
        older = re.search(r'href="(/threads\?cursor=[^"]+)">Older threads', first.text)
        assert older is not None
        second = await ann.get(older.group(1).replace("&amp;", "&"))
        assert second.text.count('class="thread-list__item') == 2
        closed = await ann.get("/threads?status=closed")
        assert closed.text.count('class="thread-list__item') == 1
        assert "Thread 0" in closed.text
        assert (await ann.get("/threads?status=archived")).status_code == 400


async def test_the_live_fragment_brings_what_is_new(app: FastAPI) -> None:
    team = await _team(app)
    async with signed_in(app, "ann") as ann, signed_in(app, "bob") as bob:
        thread_id = await _start(ann, team.bob)
        path = f"/threads/{thread_id}"
        (first,) = _message_ids((await bob.get(path)).text)
        await _post(ann, f"{path}/messages", body="Bloods booked.")
        fragment = await bob.get(f"{path}/messages?after={first}",
                                 headers={"HX-Request": "true"})
        assert fragment.status_code == 200
        assert_page_headers(fragment)
        assert "<html" not in fragment.text
        assert _message_ids(fragment.text) == [first + 1]
        assert "Bloods booked." in fragment.text
        assert f'id="live-after" name="after" value="{first + 1}" hx-swap-oob="true"' \
            in fragment.text
        assert 'id="thread-status" class="status status--new" hx-swap-oob="true"' \
            in fragment.text
        await _post(ann, f"{path}/messages", body="Bloods booked for 9am.",
                    amends_id=str(first + 1))
        amended = (await bob.get(f"{path}/messages?after={first + 1}")).text
        # The new amendment, and the amended message again (out of band) with its marker.
        assert _message_ids(amended) == [first + 2, first + 1]
        assert f'<li class="message" id="message-{first + 1}" hx-swap-oob="true">' in amended
        nothing = await bob.get(f"{path}/messages?after={first + 2}")
        assert _message_ids(nothing.text) == []


async def test_a_reply_from_the_page_is_announced_after_commit(app: FastAPI) -> None:
    team = await _team(app)
    events = runtime_of(app).events
    async with signed_in(app, "ann") as ann:
        thread_id = await _start(ann, team.bob)
        async with events.subscribe(team.bob) as bob_events:
            await _post(ann, f"/threads/{thread_id}/messages", body="Are you free?")
            event = await asyncio.wait_for(bob_events.get(), timeout=10)
    assert event.type == "message.created"
    assert event.conversation_id == thread_id
    assert event.recipients == (team.bob,)


async def test_a_patient_starts_a_thread_about_their_own_record(app: FastAPI) -> None:
    await make_user(app, "pat", level="patient", profession="patient", fhir_patient_id="p1")
    await make_organisation(app, "Home surgery", patients=["p1"])
    async with signed_in(app, "pat") as pat:
        form = await pat.get("/threads/new")
        assert 'name="patient_id" value="p1"' in form.text
        assert 'name="participant_ids"' not in form.text  # the user list is for staff
        response = await pat.post("/threads/new", data={
            "csrf_token": form_token(form), "patient_id": "p1",
            "initial_message": "Can I have my results?"})
        assert response.status_code == 303
        page = await pat.get(response.headers["location"])
        assert "Can I have my results?" in page.text
        assert "Thread without a subject" in page.text


async def test_without_a_patient_the_new_thread_page_points_to_the_search(
        app: FastAPI) -> None:
    await _team(app)
    async with signed_in(app, "ann") as ann:
        page = await ann.get("/threads/new")
        assert page.status_code == 200
        assert 'action="/patients"' in page.text
        assert 'action="/threads/new"' not in page.text


async def test_a_reply_from_the_page_loads_the_thread_once_as_the_api_does(app: FastAPI
                                                                          ) -> None:
    team = await _team(app)
    runtime = runtime_of(app)
    async with signed_in(app, "ann") as ann:
        thread_id = await _start(ann, team.bob)
        token = form_token(await ann.get("/threads"))
        with count_statements(runtime.engine) as statements:
            posted = await ann.post(f"/threads/{thread_id}/messages",
                                    data={"csrf_token": token, "body": "Any news?"})
    assert posted.status_code == 303, posted.text
    loads = [s for s in statements if " ".join(s.split()).startswith("SELECT conversations.")]
    # Loaded with its visibility rule and locked in one statement; the post takes it as is.
    assert len(loads) == 1, loads
    if runtime.engine.dialect.name == "postgresql":
        assert "FOR UPDATE" in loads[0]
