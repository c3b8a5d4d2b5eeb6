"""Messaging routes: threads about a patient, their rules and error shapes."""

from __future__ import annotations

from typing import Any

import httpx
from fastapi import FastAPI
from sqlalchemy import func, select

from quill.messaging.models import Conversation, ConversationParticipant, Message
from tests.helpers import runtime_of
from tests.messaging.support import messaging_world, start_thread


async def test_create_thread_writes_a_valid_communication(
    app: FastAPI, client: httpx.AsyncClient
) -> None:
    world = await messaging_world(app)
    thread = await start_thread(client, world, participant_ids=[world.users["admin"].id])
    assert thread["status"] == "new"
    assert thread["is_participant"] is True
    assert thread["can_write"] is True
    roles = {p["username"]: p["role"] for p in thread["participants"]}
    assert roles == {"m-staff_same": "initiator", "m-admin": "participant"}
    [first] = thread["messages"]
    assert first["body"] == "Potassium is 5.9, please review."
    assert first["fhir_communication_id"] == thread["fhir_conversation_id"]
    runtime = runtime_of(app)
    async with runtime.session_factory() as db:
        resource = await runtime.fhir.store(db).read("Communication",
                                                    str(thread["fhir_conversation_id"]))
    assert resource["status"] == "completed"
    assert resource["subject"] == {"reference": f"Patient/{world.patient_a}"}
    assert resource["payload"] == [{"contentString": "Potassium is 5.9, please review."}]
    assert resource["topic"] == {"text": "Blood results"}


async def test_participants_must_see_the_patient(app: FastAPI, client: httpx.AsyncClient
                                                 ) -> None:
    world = await messaging_world(app)
    other = world.users["staff_other"]
    response = await client.post("/api/conversations", headers=world.headers["staff_same"], json={
        "patient_id": world.patient_a, "initial_message": "hello",
        "participant_ids": [other.id]})
    assert response.status_code == 400
    assert str(other.id) in response.json()["detail"]
    runtime = runtime_of(app)
    async with runtime.session_factory() as db:
        assert (await db.execute(select(func.count()).select_from(Conversation))).scalar() == 0


async def test_invisible_or_unknown_patient_is_404(app: FastAPI, client: httpx.AsyncClient
                                                   ) -> None:
    world = await messaging_world(app)
    for kind, patient in (("staff_other", world.patient_a), ("admin", "no-such-patient"),
                          ("external", world.patient_a)):
        response = await client.post("/api/conversations", headers=world.headers[kind], json={
            "patient_id": patient, "initial_message": "hello"})
        assert response.status_code == 404, (kind, response.text)


async def test_listing_unread_and_read(app: FastAPI, client: httpx.AsyncClient,
                                       clock: Any) -> None:
    world = await messaging_world(app)
    thread = await start_thread(client, world, participant_ids=[world.users["admin"].id])
    tid = thread["id"]
    clock.advance(minutes=1)
    reply = await client.post(f"/api/conversations/{tid}/messages", json={"body": "On it"},
                              headers=world.headers["admin"])
    assert reply.status_code == 200
    assert reply.json()["sender_username"] == "m-admin"
    listing = (await client.get("/api/conversations", headers=world.headers["staff_same"])).json()
    [row] = listing["conversations"]
    assert row["unread_count"] == 1
    assert row["last_message_preview"] == "On it"
    assert row["status"] == "active"  # a reply from someone else starts the thread
    assert listing["next_cursor"] is None
    clock.advance(minutes=1)
    read = await client.post(f"/api/conversations/{tid}/read", headers=world.headers["staff_same"])
    assert read.json() == {"ok": True}
    listing = (await client.get("/api/conversations", headers=world.headers["staff_same"])).json()
    assert listing["conversations"][0]["unread_count"] == 0
    others = (await client.get("/api/conversations", headers=world.headers["staff_other"])).json()
    assert others["conversations"] == []


async def test_status_transitions_and_closed_threads(app: FastAPI, client: httpx.AsyncClient
                                                     ) -> None:
    world = await messaging_world(app)
    tid = (await start_thread(client, world))["id"]
    headers = world.headers["staff_same"]
    for status, expected in (("active", 200), ("resolved", 200), ("new", 400), ("closed", 200)):
        response = await client.patch(f"/api/conversations/{tid}", json={"status": status},
                                      headers=headers)
        assert response.status_code == expected, (status, response.text)
    post = await client.post(f"/api/conversations/{tid}/messages", json={"body": "late"},
                             headers=headers)
    assert post.status_code == 409
    bogus = await client.patch(f"/api/conversations/{tid}", json={"status": "archived"},
                               headers=headers)
    assert bogus.status_code == 422
    reopened = await client.patch(f"/api/conversations/{tid}", json={"status": "active"},
                                  headers=headers)
    assert reopened.json()["status"] == "active"
    outsider = await client.patch(f"/api/conversations/{tid}", json={"status": "closed"},
                                  headers=world.headers["admin"])
    assert outsider.status_code == 403


async def test_message_rules(app: FastAPI, client: httpx.AsyncClient) -> None:
    world = await messaging_world(app)
    thread = await start_thread(client, world, participant_ids=[world.users["admin"].id])
    tid = thread["id"]
    first_id = thread["messages"][0]["id"]
    staff, admin = world.headers["staff_same"], world.headers["admin"]
    too_long = await client.post(f"/api/conversations/{tid}/messages",
                                 json={"body": "x" * 10_001}, headers=staff)
    assert too_long.status_code == 422
    empty = await client.post(f"/api/conversations/{tid}/messages", json={"body": ""},
                              headers=staff)
    assert empty.status_code == 422
    not_mine = await client.post(f"/api/conversations/{tid}/messages",
                                 json={"body": "fix", "amends_id": first_id}, headers=admin)
    assert not_mine.status_code == 400
    amended = await client.post(f"/api/conversations/{tid}/messages",
                                json={"body": "Potassium is 5.8", "amends_id": first_id},
                                headers=staff)
    assert amended.status_code == 200
    assert amended.json()["is_amendment"] is True
    assert amended.json()["amends_id"] == first_id
    other = await start_thread(client, world)
    cross = await client.post(f"/api/conversations/{other['id']}/messages",
                              json={"body": "x", "amends_id": first_id}, headers=staff)
    assert cross.status_code == 400


async def test_patient_writes_only_when_included(app: FastAPI, client: httpx.AsyncClient
                                                 ) -> None:
    world = await messaging_world(app)
    patient = world.headers["patient"]
    excluded = await start_thread(client, world)
    # A thread that leaves the patient out is the staff's own: to the patient it is unknown.
    assert (await client.get(f"/api/conversations/{excluded['id']}", headers=patient)
            ).status_code == 404
    denied = await client.post(f"/api/conversations/{excluded['id']}/messages",
                               json={"body": "hi"}, headers=patient)
    assert denied.status_code == 404
    included = await start_thread(client, world, include_patient_as_participant=True)
    names = {p["username"] for p in included["participants"]}
    assert "m-patient" in names
    allowed = await client.post(f"/api/conversations/{included['id']}/messages",
                                json={"body": "Thank you"}, headers=patient)
    assert allowed.status_code == 200
    join = await client.post(f"/api/conversations/{included['id']}/join", headers=patient)
    assert join.status_code == 403


async def test_participants_join_and_patient_threads(app: FastAPI, client: httpx.AsyncClient
                                                     ) -> None:
    world = await messaging_world(app)
    tid = (await start_thread(client, world))["id"]
    staff = world.headers["staff_same"]
    cannot = await client.post(f"/api/conversations/{tid}/participants",
                               json={"user_id": world.users["staff_other"].id}, headers=staff)
    assert cannot.status_code == 400
    added = await client.post(f"/api/conversations/{tid}/participants",
                              json={"user_id": world.users["admin"].id, "role": "tagged"},
                              headers=staff)
    assert added.status_code == 200
    assert added.json()["role"] == "tagged"
    again = await client.post(f"/api/conversations/{tid}/participants",
                              json={"user_id": world.users["admin"].id}, headers=staff)
    assert again.status_code == 409
    joined = await client.post(f"/api/conversations/{tid}/join",
                               headers=world.headers["superadmin"])
    assert joined.status_code == 200
    assert joined.json()["role"] == "participant"
    listed = await client.get(f"/api/conversations/{tid}/participants", headers=staff)
    assert len(listed.json()) == 3
    about = await client.get(f"/api/patients/{world.patient_a}/conversations",
                             headers=world.headers["patient"])
    assert about.json()["conversations"] == []  # a staff-only thread
    hidden = await client.get(f"/api/patients/{world.patient_a}/conversations",
                              headers=world.headers["staff_other"])
    assert hidden.status_code == 404
    read_only = await client.get(f"/api/conversations/{tid}", headers=world.headers["staff_other"])
    assert read_only.status_code == 404


async def test_reading_a_thread_is_audited(app: FastAPI, client: httpx.AsyncClient) -> None:
    from quill.audit.models import AuditEvent

    world = await messaging_world(app)
    tid = (await start_thread(client, world))["id"]
    await client.get(f"/api/conversations/{tid}", headers=world.headers["admin"])
    runtime = runtime_of(app)
    async with runtime.session_factory() as db:
        actions = (await db.execute(
            select(AuditEvent.action).where(AuditEvent.patient_id == world.patient_a)
        )).scalars().all()
        count = (await db.execute(select(func.count()).select_from(Message))).scalar()
    assert "conversation.create" in actions
    assert "conversation.read" in actions
    assert count == 1


async def _last_read(app: FastAPI, conversation_id: int, user_id: int) -> Any:
    async with runtime_of(app).session_factory() as db:
        return (await db.execute(
            select(ConversationParticipant.last_read_at).where(
                ConversationParticipant.conversation_id == conversation_id,
                ConversationParticipant.user_id == user_id))).scalar_one()


async def test_reading_again_with_nothing_new_writes_nothing(
        app: FastAPI, client: httpx.AsyncClient, clock: Any) -> None:
    world = await messaging_world(app)
    tid = (await start_thread(client, world, participant_ids=[world.users["admin"].id]))["id"]
    reader = world.users["admin"].id
    clock.advance(minutes=1)
    await client.post(f"/api/conversations/{tid}/read", headers=world.headers["admin"])
    first = await _last_read(app, tid, reader)
    assert first is not None
    clock.advance(minutes=1)
    await client.post(f"/api/conversations/{tid}/read", headers=world.headers["admin"])
    assert await _last_read(app, tid, reader) == first
    clock.advance(minutes=1)
    reply = await client.post(f"/api/conversations/{tid}/messages", json={"body": "New"},
                              headers=world.headers["staff_same"])
    assert reply.status_code == 200
    clock.advance(minutes=1)
    listing = (await client.get("/api/conversations", headers=world.headers["admin"])).json()
    assert listing["conversations"][0]["unread_count"] == 1
    await client.post(f"/api/conversations/{tid}/read", headers=world.headers["admin"])
    assert await _last_read(app, tid, reader) > first
    listing = (await client.get("/api/conversations", headers=world.headers["admin"])).json()
    assert listing["conversations"][0]["unread_count"] == 0
