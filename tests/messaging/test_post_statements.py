"""Posting a message (and changing a status): what it writes, and that it reads and writes
each thing once."""

from __future__ import annotations

from pathlib import Path
from typing import Any

import httpx
import pytest
from fastapi import FastAPI
from sqlalchemy import select

from quill.fhir.models import FhirResourceRow, FhirSearchIndexRow
from quill.fhir.searchparams import index_values
from quill.messaging.models import Conversation, ConversationParticipant
from quill.settings import Settings
from tests.conftest import make_settings
from tests.helpers import runtime_of
from tests.messaging.support import messaging_world, start_thread
from tests.statements import count_statements

# Session, user and features (when the caller is not cached), the thread locked, its
# members, the message, the Communication (references and id, row, version, index),
# the thread and its participants' rows, who may see it (and who has subscribed to push),
# and the audit append.
POST_STATEMENTS = 16


@pytest.fixture
def settings(database_url: str, tmp_path: Path) -> Settings:
    # No periodic audit checkpoint: its query would land in the count.
    return make_settings(database_url, tmp_path, audit_checkpoint_seconds=3600)


def _starting(statements: list[str], prefix: str) -> list[str]:
    return [s for s in statements if " ".join(s.split()).startswith(prefix)]


async def test_a_post_reads_the_thread_once_and_writes_each_table_once(
        app: FastAPI, client: httpx.AsyncClient, clock: Any) -> None:
    world = await messaging_world(app)
    thread = await start_thread(client, world, participant_ids=[world.users["admin"].id])
    runtime = runtime_of(app)
    await runtime.push.drain()  # nothing the thread's creation started is left running
    clock.advance(minutes=1)
    with count_statements(runtime.engine) as statements:
        # By the thread's starter: the thread stays "new", so its root is not rewritten.
        posted = await client.post(f"/api/conversations/{thread['id']}/messages",
                                   json={"body": "Any news?"},
                                   headers=world.headers["staff_same"])
        await runtime.push.drain()
    assert posted.status_code == 200, posted.text
    # Loaded with its visibility rule and locked in one statement, not loaded again.
    [load] = _starting(statements, "SELECT conversations.")
    if runtime.engine.dialect.name == "postgresql":
        assert "FOR UPDATE" in load
    # The Communication's search-index rows go as one batch; one query checks both its
    # references (patient and root) and that nothing is stored at its new id yet.
    assert len(_starting(statements, "INSERT INTO fhir_search_index")) == 1
    assert len([s for s in statements if " ".join(s.split()).startswith("SELECT")
                and "FROM fhir_resources" in s]) == 1, statements
    # The thread's row, and every participant's row, each in one UPDATE.
    assert len(_starting(statements, "UPDATE conversations ")) == 1
    assert len(_starting(statements, "UPDATE conversation_participants ")) == 1
    # No recipient has a push subscription, which the request found out itself: the push
    # notifier starts no session to look for one.
    assert not _starting(statements, "SELECT push_subscriptions"), statements
    assert len(statements) <= POST_STATEMENTS, "\n".join(s[:90] for s in statements)


async def test_a_post_stamps_the_thread_and_marks_it_read_for_the_sender_only(
        app: FastAPI, client: httpx.AsyncClient, clock: Any) -> None:
    world = await messaging_world(app)
    thread = await start_thread(client, world, participant_ids=[world.users["admin"].id])
    starter, sender = world.users["staff_same"].id, world.users["admin"].id
    runtime = runtime_of(app)
    async with runtime.session_factory() as db:
        read_before = dict((await db.execute(
            select(ConversationParticipant.user_id, ConversationParticipant.last_read_at)
            .where(ConversationParticipant.conversation_id == thread["id"]))).all())
    clock.advance(minutes=1)
    posted = await client.post(f"/api/conversations/{thread['id']}/messages",
                               json={"body": "On it"}, headers=world.headers["admin"])
    assert posted.status_code == 200, posted.text
    message = posted.json()
    async with runtime.session_factory() as db:
        conversation = await db.get(Conversation, thread["id"])
        assert conversation is not None
        rows = (await db.execute(
            select(ConversationParticipant.user_id, ConversationParticipant.last_read_at,
                   ConversationParticipant.conversation_updated_at)
            .where(ConversationParticipant.conversation_id == thread["id"]))).all()
        communication = (await db.execute(select(FhirResourceRow).where(
            FhirResourceRow.resource_type == "Communication",
            FhirResourceRow.resource_id != conversation.fhir_conversation_id))).scalar_one()
        indexed = (await db.execute(select(FhirSearchIndexRow.param).where(
            FhirSearchIndexRow.resource_pk == communication.pk))).scalars().all()
    assert conversation.last_message_id == message["id"]
    assert conversation.status == "active"  # a reply from someone else starts the thread
    moment = conversation.updated_at
    assert {user_id: updated for user_id, _, updated in rows} == {starter: moment,
                                                                   sender: moment}
    read_after = {user_id: read for user_id, read, _ in rows}
    assert read_after[sender] == moment
    assert read_after[starter] == read_before[starter]
    assert read_before[sender] is None
    # Every value the Communication is searched by is indexed: the batch lost no row.
    assert communication.content is not None
    expected = sorted(name for name, _ in index_values(communication.content))
    assert len(expected) >= 3
    assert sorted(indexed) == expected


async def test_a_status_change_stamps_the_participants_and_marks_nobody_read(
        app: FastAPI, client: httpx.AsyncClient, clock: Any) -> None:
    world = await messaging_world(app)
    thread = await start_thread(client, world, participant_ids=[world.users["admin"].id])
    runtime = runtime_of(app)
    query = (select(ConversationParticipant.user_id, ConversationParticipant.last_read_at,
                    ConversationParticipant.conversation_updated_at)
             .where(ConversationParticipant.conversation_id == thread["id"]))
    async with runtime.session_factory() as db:
        before = {user_id: read for user_id, read, _ in (await db.execute(query)).all()}
    clock.advance(minutes=1)
    changed = await client.patch(f"/api/conversations/{thread['id']}",
                                 json={"status": "resolved"}, headers=world.headers["admin"])
    assert changed.status_code == 200, changed.text
    async with runtime.session_factory() as db:
        conversation = await db.get(Conversation, thread["id"])
        assert conversation is not None
        after = (await db.execute(query)).all()
    assert {user_id: read for user_id, read, _ in after} == before
    assert {updated for _, _, updated in after} == {conversation.updated_at}
    assert conversation.updated_at == clock.now()
