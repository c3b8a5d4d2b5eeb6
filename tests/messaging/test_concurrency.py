"""Concurrent writers to one thread leave its projection pointing at its newest message."""

from __future__ import annotations

import asyncio
from typing import Any, cast

import httpx
import pytest
from fastapi import FastAPI
from sqlalchemy import select, text

from quill.audit.service import Auditor
from quill.fhir.port import FhirStore, Resource
from quill.identity.caller import Caller
from quill.identity.models import User
from quill.messaging.models import Conversation, ConversationParticipant, Message
from quill.messaging.schemas import MessageIn
from quill.messaging.service import MessagingService
from tests.helpers import runtime_of
from tests.messaging.support import messaging_world, start_thread


class _HeldFhir:
    """The real store, except that its first write waits until the test lets it through.

    It holds a poster between inserting its message and updating the thread, the window
    in which another poster used to overwrite the projection with older values.
    """

    def __init__(self, inner: FhirStore) -> None:
        self.inner = inner
        self.reached = asyncio.Event()
        self.release = asyncio.Event()

    async def update(self, resource: Resource, *, expected_version: str | None = None
                     ) -> Resource:
        if not self.reached.is_set():
            self.reached.set()
            await self.release.wait()
        return await self.inner.update(resource, expected_version=expected_version)

    def __getattr__(self, name: str) -> Any:
        return getattr(self.inner, name)


async def _post(app: FastAPI, user: User, conversation_id: int, body: str,
                held: _HeldFhir | None = None, *, lock: bool = False) -> int:
    """One poster in its own session and transaction, as one request would be.
    ``lock``: the thread is loaded locked, as the messages route loads it."""
    runtime = runtime_of(app)
    async with runtime.session_factory() as db, db.begin():
        store = runtime.fhir.store(db)
        if held is not None:
            held.inner = store
        service = MessagingService(
            db=db, caller=Caller.of(user), auditor=Auditor(db, runtime.clock, None, user.id),
            clock=runtime.clock, ids=runtime.ids,
            fhir=cast(FhirStore, held) if held is not None else store)
        posted = await service.post(await service.conversation(conversation_id, lock=lock),
                                    MessageIn(body=body))
        return posted.message.id


async def _settled(app: FastAPI, tasks: list[asyncio.Task[int]]) -> None:
    """Until each poster has either committed or is waiting for a row lock."""
    runtime = runtime_of(app)
    query = text("SELECT count(*) FROM pg_stat_activity "
                 "WHERE datname = current_database() AND wait_event_type = 'Lock'")
    while True:
        async with runtime.engine.connect() as conn:
            waiting = int((await conn.execute(query)).scalar_one())
        if waiting + sum(t.done() for t in tasks) >= len(tasks):
            return
        await asyncio.sleep(0.01)


async def _projection(app: FastAPI, conversation_id: int) -> tuple[Any, ...]:
    runtime = runtime_of(app)
    async with runtime.session_factory() as db:
        newest = (await db.execute(
            select(Message.id, Message.created_at, Message.body)
            .where(Message.conversation_id == conversation_id)
            .order_by(Message.created_at.desc(), Message.id.desc()).limit(1))).one()
        thread = (await db.execute(
            select(Conversation.last_message_id, Conversation.updated_at)
            .where(Conversation.id == conversation_id))).one()
        copies = set((await db.execute(
            select(ConversationParticipant.conversation_updated_at)
            .where(ConversationParticipant.conversation_id == conversation_id))).scalars())
    return tuple(newest), tuple(thread), copies


# Unlocked: the post locks the thread itself. Locked: the route loads it locked and the
# post takes it as loaded, so a poster that waited for the lock must still see the values
# the one before it committed.
@pytest.mark.parametrize("lock", [False, True], ids=["post-locks", "loaded-locked"])
async def test_concurrent_posters_leave_the_newest_message_in_the_projection(
        app: FastAPI, client: httpx.AsyncClient, clock: Any, lock: bool) -> None:
    runtime = runtime_of(app)
    if runtime.engine.dialect.name != "postgresql":
        pytest.skip("SQLite runs one writer at a time; the race needs concurrent writers")
    world = await messaging_world(app)
    thread = await start_thread(client, world, participant_ids=[world.users["admin"].id])
    posters = [world.users["staff_same"], world.users["admin"]]
    clock.advance(seconds=1)
    first_store = _HeldFhir(cast(FhirStore, None))
    first = asyncio.create_task(_post(app, posters[0], thread["id"], "older", first_store,
                                      lock=lock))
    await first_store.reached.wait()  # its message is in, its time taken, not yet committed
    clock.advance(seconds=1)
    others = [asyncio.create_task(_post(app, posters[i % 2], thread["id"], f"newer {i}",
                                        lock=lock))
              for i in range(1, 4)]
    await _settled(app, others)
    first_store.release.set()
    await asyncio.gather(first, *others)
    newest, (last_id, updated_at), copies = await _projection(app, thread["id"])
    newest_id, newest_at, newest_body = newest
    assert newest_body != "older"
    assert (last_id, updated_at) == (newest_id, newest_at)
    assert copies == {newest_at}
    listing = (await client.get("/api/conversations", headers=world.headers["admin"])).json()
    assert listing["conversations"][0]["last_message_preview"] == newest_body
