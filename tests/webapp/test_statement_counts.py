"""Each page sends a bounded number of SQL statements: the same for 5 rows as for 500.

Counted as the listing tests count them (tests/statements.py), on the second request of
a signed-in browser, so both counts see the caller cache in the same state. The apps keep
their audit checkpointer (a periodic read of the chain head through the same engine) out
of the counted window.
"""

from __future__ import annotations

import re
import uuid
from datetime import timedelta

import httpx
from fastapi import FastAPI
from sqlalchemy import insert

from quill.access.models import ExternalGrant
from quill.auth.models import AuthSession
from quill.messaging.models import Conversation, ConversationParticipant, Message
from tests.auth.conftest import AppFactory
from tests.helpers import logged_in, make_organisation, make_user, runtime_of
from tests.messaging.bulk import load_threads
from tests.webapp.support import QUIET, browser, page_statements, signed_in


async def _few_and_many_threads(app: FastAPI, few_name: str, many_name: str) -> None:
    """Two clinicians of one organisation (messaging on): ``few_name`` in 5 threads,
    ``many_name`` in 500 of two messages each, one from a colleague."""
    runtime = runtime_of(app)
    few = await make_user(app, few_name, level="staff", profession="doctor")
    many = await make_user(app, many_name, level="staff", profession="doctor")
    writer = await make_user(app, f"{many_name}-writer", level="staff", profession="nurse")
    await make_organisation(app, "Surgery", staff=[few.id, many.id, writer.id],
                            patients=["p1"], features=["messaging"])
    await load_threads(runtime.session_factory, runtime.clock.now(),
                       user_ids=[many.id, writer.id],
                       patient_id="p1", threads=500, messages=1000)
    start = runtime.clock.now() - timedelta(days=30)
    async with runtime.session_factory() as db, db.begin():
        await db.execute(insert(ConversationParticipant), [
            {"conversation_id": t, "user_id": few.id, "role": "participant",
             "joined_at": start, "last_read_at": start, "conversation_updated_at": start}
            for t in range(1, 6)])


async def test_home_costs_the_same_for_5_or_500_threads(app_factory: AppFactory) -> None:
    app = await app_factory(audit_checkpoint_seconds=QUIET)
    await _few_and_many_threads(app, "few-threads", "many-threads")
    async with signed_in(app, "few-threads") as http:
        small = await page_statements(app, http, "/")
        assert (await http.get("/")).text.count('class="thread-list__item') == 5
    async with signed_in(app, "many-threads") as http:
        large = await page_statements(app, http, "/")
        page = (await http.get("/")).text
        assert page.count('class="thread-list__item') == 50
        assert "1 unread" in page  # each thread: two messages, one from the writer
    assert len(small) == len(large), (small, large)
    assert len(large) <= 6, large


async def test_account_costs_the_same_for_5_or_500_sessions(app_factory: AppFactory) -> None:
    app = await app_factory(audit_checkpoint_seconds=QUIET)
    runtime = runtime_of(app)
    now = runtime.clock.now()
    counts = []
    for name, sessions in (("few-sessions", 5), ("many-sessions", 500)):
        user = await make_user(app, name, level="staff", profession="doctor")
        async with runtime.session_factory() as db, db.begin():
            await db.execute(insert(AuthSession), [
                {"id": str(uuid.uuid4()), "user_id": user.id, "user_agent": "Browser",
                 "ip": "10.0.0.1", "created_at": now, "last_used_at": now,
                 "expires_at": now + timedelta(days=1), "revoked_at": None,
                 "refresh_jti": None}
                for _ in range(sessions - 1)])
        async with signed_in(app, name) as http:
            statements = await page_statements(app, http, "/account")
            listed = (await http.get("/account")).text.count('class="session-list__item"')
            assert listed == sessions
        counts.append(len(statements))
    assert counts[0] == counts[1], counts
    assert counts[1] <= 3


async def _thread_with_messages(app: FastAPI, conversation_id: int, first_message_id: int,
                                messages: int, user_ids: list[int]) -> None:
    """One thread about p1 with ``messages`` messages, written in bulk."""
    runtime = runtime_of(app)
    start = runtime.clock.now() - timedelta(days=1)
    last = first_message_id + messages - 1
    async with runtime.session_factory() as db, db.begin():
        await db.execute(insert(Conversation), [{
            "id": conversation_id, "fhir_conversation_id": f"count-{conversation_id}",
            "patient_id": "p1", "subject": f"Thread {conversation_id}", "status": "active",
            "include_patient_as_participant": False, "created_by": user_ids[0],
            "created_at": start, "updated_at": start, "last_message_id": last}])
        await db.execute(insert(ConversationParticipant), [
            {"conversation_id": conversation_id, "user_id": uid, "role": "participant",
             "joined_at": start, "last_read_at": start, "conversation_updated_at": start}
            for uid in user_ids])
        await db.execute(insert(Message), [
            {"id": number, "conversation_id": conversation_id,
             "fhir_communication_id": f"count-{conversation_id}-{number}",
             "sender_id": user_ids[number % len(user_ids)], "body": f"message {number}",
             "amends_id": number - 1 if number % 10 == 0 else None,
             "created_at": start + timedelta(seconds=number - first_message_id)}
            for number in range(first_message_id, last + 1)])


async def test_thread_page_costs_the_same_for_5_or_500_messages(app_factory: AppFactory
                                                                ) -> None:
    app = await app_factory(audit_checkpoint_seconds=QUIET)
    reader = await make_user(app, "thread-reader", level="staff", profession="doctor")
    writer = await make_user(app, "thread-writer", level="staff", profession="nurse")
    colleagues = [await make_user(app, f"colleague-{n}", level="staff", profession="nurse")
                  for n in range(3)]
    await make_organisation(app, "Surgery", staff=[reader.id, writer.id,
                                                   *(c.id for c in colleagues)],
                            patients=["p1"])
    await _thread_with_messages(app, 1, 1, 5, [reader.id, writer.id])
    await _thread_with_messages(app, 2, 1001, 500, [reader.id, writer.id])
    async with signed_in(app, "thread-reader") as http:
        small = await page_statements(app, http, "/threads/1")
        large = await page_statements(app, http, "/threads/2")
        page = (await http.get("/threads/2")).text
        assert len(re.findall(r'id="message-\d+"', page)) == 500
        assert "see the amendment" in page
        assert page.count('<option value="') == 2  # the statuses an active thread may take
        # Once read, the page costs what GET /api/conversations/{id} costs: marking read
        # again with nothing new writes nothing.
        api = await page_statements(app, http, "/api/conversations/2")
        live = await page_statements(app, http, "/threads/2/messages?after=1001")
        people = await page_statements(app, http, "/threads/2/participants")
        assert (await http.get("/threads/2/participants")).text.count('<option value="') == 4
    assert len(small) == len(large), (small, large)
    assert len(large) <= len(api), (large, api)
    assert len(live) <= 10, live
    assert len(people) <= 6, people


async def test_threads_list_costs_the_same_for_5_or_500_threads(app_factory: AppFactory
                                                                ) -> None:
    app = await app_factory(audit_checkpoint_seconds=QUIET)
    await _few_and_many_threads(app, "few-list", "many-list")
    async with signed_in(app, "few-list") as http:
        small = await page_statements(app, http, "/threads")
        assert (await http.get("/threads")).text.count('class="thread-list__item') == 5
    async with signed_in(app, "many-list") as http:
        large = await page_statements(app, http, "/threads")
        page = (await http.get("/threads")).text
        assert page.count('class="thread-list__item') == 25
        assert "Older threads" in page
    assert len(small) == len(large), (small, large)
    assert len(large) <= 6, large


async def test_pages_shown_before_sign_in_send_no_statements(app_factory: AppFactory) -> None:
    app = await app_factory(audit_checkpoint_seconds=QUIET)
    async with browser(app) as http:
        for path in ("/sign-in", "/forgot-password", "/reset-password?token=abc"):
            assert await page_statements(app, http, path) == [], path


async def _patient_with_letters(app: FastAPI, name: str, letters: int) -> None:
    """A patient user whose record holds ``letters`` letters (each also an access-log
    entry) and as many relatives' grants."""
    runtime = runtime_of(app)
    clinician = await logged_in(app, f"dr-{name}", level="staff", profession="doctor")
    await make_organisation(app, f"Org {name}", staff=[clinician.user_id],
                            patients=[f"pat-{name}"])
    async with httpx.AsyncClient(transport=httpx.ASGITransport(app=app),
                                 base_url="http://testserver") as api:
        for number in range(letters):
            written = await api.post(f"/api/patients/pat-{name}/letters",
                                     headers=clinician.headers,
                                     json={"title": f"Letter {number}", "body": "Text"})
            assert written.status_code == 200
    now = runtime.clock.now()
    for number in range(letters):
        relative = await make_user(app, f"rel-{name}-{number}", level="patient_advocate",
                                   profession="patient_advocate")
        async with runtime.session_factory() as db, db.begin():
            db.add(ExternalGrant(user_id=relative.id, patient_id=f"pat-{name}",
                                 user_type="patient_advocate", granted_at=now))
    await make_user(app, name, fhir_patient_id=f"pat-{name}")


async def test_my_record_pages_cost_the_same_for_5_or_60_letters_and_grants(
        app_factory: AppFactory) -> None:
    app = await app_factory(audit_checkpoint_seconds=QUIET)
    await _patient_with_letters(app, "few-letters", 5)
    await _patient_with_letters(app, "many-letters", 60)
    for path in ("/my-record", "/my-record/access"):
        counts = []
        for name, shown in (("few-letters", 5), ("many-letters", 50)):
            async with signed_in(app, name) as http:
                counts.append(len(await page_statements(app, http, path)))
                page = (await http.get(path)).text
            if path == "/my-record":
                assert page.count('class="thread-list__item"') == shown
        assert counts[0] == counts[1], (path, counts)
