"""The projection can be dropped and rebuilt from FHIR, exactly and idempotently."""

from __future__ import annotations

from typing import Any

import httpx
from fastapi import FastAPI
from sqlalchemy import delete, select, update
from typer.testing import CliRunner

from quill.cli import cli
from quill.messaging.models import Conversation, ConversationParticipant, Message
from quill.messaging.rebuild import rebuild_projection
from quill.settings import Settings
from tests.access.world import World
from tests.helpers import runtime_of
from tests.messaging.support import messaging_world, start_thread


async def _busy_world(app: FastAPI, client: httpx.AsyncClient, clock: Any) -> World:
    world = await messaging_world(app)
    staff, admin = world.headers["staff_same"], world.headers["admin"]
    first = await start_thread(client, world, participant_ids=[world.users["admin"].id])
    clock.advance(minutes=1)
    second = await start_thread(client, world, subject="Discharge plan",
                                include_patient_as_participant=True)
    clock.advance(minutes=1)
    reply = await client.post(f"/api/conversations/{first['id']}/messages",
                              json={"body": "Repeat in 2 hours"}, headers=admin)
    clock.advance(minutes=1)
    await client.post(f"/api/conversations/{first['id']}/messages",
                      json={"body": "Repeat in 3 hours", "amends_id": reply.json()["id"]},
                      headers=admin)
    clock.advance(minutes=1)
    await client.patch(f"/api/conversations/{second['id']}", json={"status": "resolved"},
                       headers=staff)
    await client.post(f"/api/conversations/{second['id']}/participants",
                      json={"user_id": world.users["superadmin"].id, "role": "tagged"},
                      headers=staff)
    clock.advance(minutes=1)
    await client.post(f"/api/conversations/{first['id']}/read", headers=admin)
    return world


async def _snapshot(client: httpx.AsyncClient, world: World) -> list[Any]:
    out = []
    for kind in ("staff_same", "admin", "patient", "superadmin"):
        listing = (await client.get("/api/conversations", headers=world.headers[kind])).json()
        details = [(await client.get(f"/api/conversations/{c['id']}",
                                     headers=world.headers[kind])).json()
                   for c in listing["conversations"]]
        out.append((kind, listing, details))
    return out


async def _drop_projection(app: FastAPI) -> None:
    runtime = runtime_of(app)
    async with runtime.session_factory() as db, db.begin():
        await db.execute(delete(Message))
        await db.execute(delete(ConversationParticipant))
        await db.execute(delete(Conversation))


async def _stale_copies(app: FastAPI) -> list[tuple[int, int]]:
    """Participant rows whose copy of the thread's activity time differs from the thread's."""
    runtime = runtime_of(app)
    async with runtime.session_factory() as db:
        rows = await db.execute(
            select(ConversationParticipant.conversation_id, ConversationParticipant.user_id)
            .join(Conversation, Conversation.id == ConversationParticipant.conversation_id)
            .where(ConversationParticipant.conversation_updated_at != Conversation.updated_at))
        return [(c, u) for c, u in rows.all()]


async def test_participant_copies_of_activity_time_stay_in_sync(
        app: FastAPI, client: httpx.AsyncClient, clock: Any) -> None:
    # Created, posted to, amended, status changed, a participant added, each a minute apart.
    world = await _busy_world(app, client, clock)
    joined = await client.post("/api/conversations/1/join", headers=world.headers["superadmin"])
    assert joined.status_code == 200, joined.text
    runtime = runtime_of(app)
    async with runtime.session_factory() as db:
        assert len(set((await db.execute(select(Conversation.updated_at))).scalars())) == 2
        assert len((await db.execute(select(ConversationParticipant.id))).all()) >= 5
    assert await _stale_copies(app) == []
    async with runtime.session_factory() as db, db.begin():
        await db.execute(update(ConversationParticipant).values(
            conversation_updated_at=runtime.clock.now()))
    assert await _stale_copies(app) != []
    async with runtime.session_factory() as db, db.begin():
        await rebuild_projection(db, runtime.fhir.store(db))
    assert await _stale_copies(app) == []


async def test_drop_rebuild_gives_identical_listing(app: FastAPI, client: httpx.AsyncClient,
                                                   clock: Any) -> None:
    world = await _busy_world(app, client, clock)
    before = await _snapshot(client, world)
    runtime = runtime_of(app)
    async with runtime.session_factory() as db, db.begin():
        report = await rebuild_projection(db, runtime.fhir.store(db))
    assert (report.conversations, report.messages) == (2, 4)
    assert await _snapshot(client, world) == before  # read positions survived
    async with runtime.session_factory() as db, db.begin():
        await rebuild_projection(db, runtime.fhir.store(db))
    assert await _snapshot(client, world) == before  # idempotent
    await _drop_projection(app)
    assert (await client.get("/api/conversations", headers=world.headers["admin"])
            ).json()["conversations"] == []
    async with runtime.session_factory() as db, db.begin():
        await rebuild_projection(db, runtime.fhir.store(db))
    after = await _snapshot(client, world)
    # With the tables dropped, read positions are gone: only unread counts may differ.
    for (kind, listing, details), (_, old_listing, old_details) in zip(after, before,
                                                                       strict=True):
        assert details == old_details, kind
        for new_row, old_row in zip(listing["conversations"], old_listing["conversations"],
                                    strict=True):
            assert {**new_row, "unread_count": 0} == {**old_row, "unread_count": 0}
    posted = await client.post(f"/api/conversations/{after[0][1]['conversations'][0]['id']}"
                               "/messages", json={"body": "ids continue after a rebuild"},
                               headers=world.headers["staff_same"])
    assert posted.status_code == 200


async def test_cli_rebuild(app: FastAPI, client: httpx.AsyncClient, clock: Any,
                           settings: Settings) -> None:
    world = await _busy_world(app, client, clock)
    before = await _snapshot(client, world)
    await _drop_projection(app)
    env = {"QUILL_DATABASE_URL": settings.database_url, "QUILL_DATA_DIR": str(settings.data_dir),
           "QUILL_SECRET_KEY": settings.secret_key}
    import asyncio

    result = await asyncio.to_thread(CliRunner().invoke, cli, ["rebuild-projection"], env=env)
    assert result.exit_code == 0, result.output
    assert "2 conversations, 4 messages" in result.output
    after = await _snapshot(client, world)
    assert [d for _, _, d in after] == [d for _, _, d in before]


async def _rows(app: FastAPI) -> list[Any]:
    """Every projection row and column, in a stable order. A participant row's own id is
    left out: it is a surrogate nothing refers to, and a rebuild inserts the rows afresh
    (in the same order, so participant lists keep their order)."""
    runtime = runtime_of(app)
    out: list[Any] = []
    async with runtime.session_factory() as db:
        for model in (Conversation, ConversationParticipant, Message):
            columns = [c for c in model.__table__.columns
                       if not (model is ConversationParticipant and c.name == "id")]
            rows = await db.execute(select(*columns).order_by(*columns[:2]))
            out.append([tuple(row) for row in rows.all()])
    return out


async def test_first_rebuild_of_a_consistent_projection_changes_nothing(
        app: FastAPI, client: httpx.AsyncClient, clock: Any) -> None:
    # Times with microseconds, as a real clock gives them, between every step.
    clock.advance(microseconds=123_456)
    world = await messaging_world(app)
    staff = world.headers["staff_same"]
    thread = await start_thread(client, world, participant_ids=[world.users["admin"].id])
    clock.advance(seconds=1, microseconds=654_321)
    await client.post(f"/api/conversations/{thread['id']}/messages",
                      json={"body": "Seen"}, headers=world.headers["admin"])
    clock.advance(seconds=1, microseconds=111_111)
    await client.patch(f"/api/conversations/{thread['id']}", json={"status": "resolved"},
                       headers=staff)
    clock.advance(seconds=1, microseconds=222_222)
    joined = await client.post(f"/api/conversations/{thread['id']}/participants",
                               json={"user_id": world.users["superadmin"].id,
                                     "role": "tagged"}, headers=staff)
    assert joined.status_code == 200, joined.text
    before = await _rows(app)
    runtime = runtime_of(app)
    async with runtime.session_factory() as db, db.begin():
        await rebuild_projection(db, runtime.fhir.store(db))
    assert await _rows(app) == before
