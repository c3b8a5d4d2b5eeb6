"""Home: my threads with unread ones first and their counts; the patient search box."""

from __future__ import annotations

from datetime import timedelta

from fastapi import FastAPI

from quill.messaging.models import Conversation, ConversationParticipant, Message
from tests.helpers import make_organisation, make_user, runtime_of
from tests.webapp.support import assert_page_headers, signed_in


async def _thread(app: FastAPI, subject: str, *, reader: int, writer: int, minutes: int,
                  unread: int) -> None:
    """A thread active ``minutes`` after the clock's start with ``unread`` new messages."""
    runtime = runtime_of(app)
    at = runtime.clock.now() + timedelta(minutes=minutes)
    async with runtime.session_factory() as db, db.begin():
        thread = Conversation(fhir_conversation_id=f"c-{subject}", patient_id="p1",
                              subject=subject, status="active",
                              include_patient_as_participant=False, created_by=writer,
                              created_at=at, updated_at=at)
        db.add(thread)
        await db.flush()
        for user in (reader, writer):
            db.add(ConversationParticipant(
                conversation_id=thread.id, user_id=user, role="participant", joined_at=at,
                last_read_at=at if unread else at + timedelta(hours=1),
                conversation_updated_at=at))
        last = None
        for number in range(max(unread, 1)):
            last = Message(conversation_id=thread.id, fhir_communication_id=f"{subject}-{number}",
                           sender_id=writer, body=f"Update {number} on {subject}",
                           created_at=at + timedelta(seconds=number + 1))
            db.add(last)
            await db.flush()
        thread.last_message_id = last.id if last else None


async def test_unread_threads_come_first_with_their_counts(app: FastAPI) -> None:
    reader = await make_user(app, "reader", level="staff", profession="doctor")
    writer = await make_user(app, "writer", level="staff", profession="nurse")
    await make_organisation(app, "Surgery", staff=[reader.id, writer.id], patients=["p1"],
                            features=["messaging"])
    await _thread(app, "Older but unread", reader=reader.id, writer=writer.id, minutes=1,
                  unread=3)
    await _thread(app, "Newest and read", reader=reader.id, writer=writer.id, minutes=5,
                  unread=0)
    async with signed_in(app, "reader") as http:
        home = await http.get("/")
    assert home.status_code == 200
    assert_page_headers(home)
    text = home.text
    assert text.index("Older but unread") < text.index("Newest and read")
    assert "3 unread" in text
    assert 'href="/threads/' in text
    assert "Update 2 on Older but unread" in text
    assert 'action="/patients"' in text
    assert 'name="q"' in text


async def test_a_patient_account_sees_no_patient_search(app: FastAPI) -> None:
    await make_user(app, "pat", level="patient", profession="patient")
    async with signed_in(app, "pat") as http:
        home = await http.get("/")
    assert home.status_code == 200
    assert "You have no threads yet." in home.text
    assert 'action="/patients"' not in home.text
