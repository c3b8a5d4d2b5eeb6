"""The read routes over statements built once per user and shape: each request's filters and
cursor are its own, the bodies are exactly what their response models send, and reading a
thread costs two statements of its own."""

from __future__ import annotations

import asyncio
from typing import Any

import httpx
from fastapi import FastAPI
from pydantic import TypeAdapter
from sqlalchemy import text

from quill.messaging.schemas import ConversationDetailOut, ConversationListOut, ParticipantOut
from tests.helpers import runtime_of
from tests.messaging.support import messaging_world, start_thread
from tests.statements import count_statements


def _subjects(body: dict[str, Any]) -> list[str]:
    return [thread["subject"] for thread in body["conversations"]]


async def test_filters_and_cursors_bind_each_requests_values(app: FastAPI,
                                                             client: httpx.AsyncClient) -> None:
    world = await messaging_world(app)
    admin = world.headers["admin"]
    a, b = world.patient_a, world.patient_b
    for patient, name in ((a, "A"), (b, "B")):
        for n in range(2):
            created = await client.post("/api/conversations", headers=admin, json={
                "patient_id": patient, "subject": f"{name}{n}",
                "initial_message": "Please review.", "participant_ids": []})
            assert created.status_code == 200, created.text
            if n == 0:
                closed = await client.patch(f"/api/conversations/{created.json()['id']}",
                                            json={"status": "closed"}, headers=admin)
                assert closed.status_code == 200, closed.text

    async def listed(path: str) -> dict[str, Any]:
        response = await client.get(path, headers=admin)
        assert response.status_code == 200, response.text
        body: dict[str, Any] = response.json()
        return body

    everything = _subjects(await listed("/api/conversations"))
    assert sorted(everything) == ["A0", "A1", "B0", "B1"]
    # The same shapes asked again with other values: nothing of the first request stays.
    assert sorted(_subjects(await listed("/api/conversations?status=closed"))) == ["A0", "B0"]
    assert sorted(_subjects(await listed("/api/conversations?status=new"))) == ["A1", "B1"]
    assert _subjects(await listed("/api/conversations?status=active")) == []
    assert sorted(_subjects(await listed(f"/api/conversations?patient_id={b}"))) == ["B0", "B1"]
    assert _subjects(await listed(f"/api/conversations?patient_id={a}&status=closed")) == ["A0"]
    assert _subjects(await listed(f"/api/conversations?patient_id={b}&status=new")) == ["B1"]
    assert _subjects(await listed(f"/api/patients/{a}/conversations?status=new")) == ["A1"]
    assert _subjects(await listed(f"/api/patients/{b}/conversations?status=closed")) == ["B0"]
    # One thread a page: every cursor is a new value for the same statement.
    walked: list[str] = []
    cursor = ""
    while True:
        page = await listed(f"/api/conversations?limit=1{cursor}")
        walked += _subjects(page)
        if page["next_cursor"] is None:
            break
        cursor = f"&cursor={page['next_cursor']}"
    assert walked == everything
    first, second = (await listed(f"/api/patients/{a}/conversations?limit=1")), None
    second = await listed(f"/api/patients/{a}/conversations?limit=1&cursor={first['next_cursor']}")
    assert _subjects(first) + _subjects(second) == [s for s in everything if s[0] == "A"]
    assert second["next_cursor"] is None


async def test_bodies_are_exactly_what_their_response_models_send(
    app: FastAPI, client: httpx.AsyncClient
) -> None:
    world = await messaging_world(app)
    staff = world.headers["staff_same"]
    thread = await start_thread(client, world, subject=None,
                                participant_ids=[world.users["admin"].id])
    tid = thread["id"]
    reply = await client.post(f"/api/conversations/{tid}/messages", headers=world.headers["admin"],
                              json={"body": "Seen, repeat the test tomorrow."})
    assert reply.status_code == 200, reply.text
    await start_thread(client, world, subject="Second")
    listing: TypeAdapter[Any] = TypeAdapter(ConversationListOut)
    detail: TypeAdapter[Any] = TypeAdapter(ConversationDetailOut)
    people: TypeAdapter[Any] = TypeAdapter(list[ParticipantOut])
    for path, adapter in (("/api/conversations", listing),
                          (f"/api/patients/{world.patient_a}/conversations", listing),
                          (f"/api/conversations/{tid}", detail),
                          (f"/api/conversations/{tid}/participants", people)):
        response = await client.get(path, headers=staff)
        assert response.status_code == 200, response.text
        assert response.headers["content-type"] == "application/json"
        # Same fields, order, types and formats: the model's own round trip changes nothing.
        assert adapter.dump_json(adapter.validate_json(response.content)) == response.content
    body = (await client.get(f"/api/conversations/{tid}", headers=staff)).json()
    assert body["subject"] is None
    assert [m["body"] for m in body["messages"]] == ["Potassium is 5.9, please review.",
                                                    "Seen, repeat the test tomorrow."]
    assert [p["username"] for p in body["participants"]] == ["m-staff_same", "m-admin"]


async def test_reading_a_thread_sends_two_statements_of_its_own(
    app: FastAPI, client: httpx.AsyncClient
) -> None:
    world = await messaging_world(app)
    tid = (await start_thread(client, world))["id"]
    staff = world.headers["staff_same"]
    assert (await client.get(f"/api/conversations/{tid}", headers=staff)).status_code == 200
    with count_statements(runtime_of(app).engine) as statements:
        response = await client.get(f"/api/conversations/{tid}", headers=staff)
    assert response.status_code == 200
    # The thread with its participants (and the visibility rule), then its messages.
    mine = [s for s in statements if "conversation" in s or "messages" in s]
    assert len(mine) == 2, statements
    hidden = await client.get(f"/api/conversations/{tid}", headers=world.headers["staff_other"])
    assert hidden.status_code == 404


async def test_the_thread_list_reads_beside_a_transaction_that_writes(
        app: FastAPI, client: httpx.AsyncClient, database_url: str) -> None:
    """GET /api/conversations takes a read-only session: on SQLite it answers while another
    transaction holds the write lock (it used to wait for the one writer connection until
    the pool timeout), and on PostgreSQL it begins no transaction."""
    world = await messaging_world(app)
    author = world.headers["staff_same"]
    await start_thread(client, world)
    runtime = runtime_of(app)
    async with runtime.session_factory() as writer, writer.begin():
        await writer.execute(text("UPDATE conversations SET subject = 'held'"))
        before = runtime.engine.sync_engine.pool.checkedout()  # type: ignore[attr-defined]
        listed = await asyncio.wait_for(client.get("/api/conversations", headers=author), 5)
        assert listed.status_code == 200, listed.text
        # Read before the writer commits: the committed subject, not the held one.
        assert _subjects(listed.json()) == ["Blood results"]
        if database_url.startswith("sqlite"):
            # The writer's single connection stayed with the writer throughout.
            assert runtime.engine.sync_engine.pool.checkedout() == before == 1  # type: ignore[attr-defined]
