"""Thread listing from the projection: order, unread counts, previews, paging, bounded SQL."""

from __future__ import annotations

from datetime import timedelta

import pytest
from fastapi import FastAPI
from sqlalchemy import text

from quill.access.policy import patient_filter
from quill.identity.caller import Caller
from quill.identity.models import User
from quill.messaging.models import Conversation, ConversationParticipant, Message
from quill.messaging.repository import list_conversations, page_ids, participants_of
from tests.helpers import make_user, runtime_of
from tests.statements import count_statements


async def _seed(app: FastAPI, threads: int, messages_per_thread: int) -> tuple[int, int]:
    runtime = runtime_of(app)
    me = await make_user(app, "reader", level="staff")
    other = await make_user(app, "writer", level="staff")
    start = runtime.clock.now()
    async with runtime.session_factory() as db, db.begin():
        for t in range(threads):
            at = start + timedelta(minutes=t)
            conversation = Conversation(
                fhir_conversation_id=f"c{t}", patient_id=f"p{t % 3}", subject=f"Thread {t}",
                status="active", include_patient_as_participant=False, created_by=other.id,
                created_at=at, updated_at=at,
            )
            db.add(conversation)
            await db.flush()
            for user in (me, other):
                db.add(ConversationParticipant(
                    conversation_id=conversation.id, user_id=user.id, role="participant",
                    joined_at=at, last_read_at=at if user is me else None,
                    conversation_updated_at=at,
                ))
            last = None
            for m in range(messages_per_thread):
                last = Message(
                    conversation_id=conversation.id, fhir_communication_id=f"c{t}-m{m}",
                    sender_id=other.id if m % 2 == 0 else me.id, body=f"message {m} " + "x" * 150,
                    created_at=at + timedelta(seconds=m + 1),
                )
                db.add(last)
                await db.flush()
            conversation.last_message_id = last.id if last else None
    return me.id, other.id


async def test_listing_orders_counts_and_pages(app: FastAPI) -> None:
    me, _ = await _seed(app, threads=5, messages_per_thread=4)
    runtime = runtime_of(app)
    async with runtime.session_factory() as db:
        first = await list_conversations(db, me, participant_only=True, limit=3, cursor=None)
        subjects = [row.conversation.subject for row in first.rows]
        assert subjects == ["Thread 4", "Thread 3", "Thread 2"]
        # Messages 0 and 2 come from the other user after my last read: two unread.
        assert all(row.unread_count == 2 for row in first.rows)
        assert first.rows[0].last_message_preview == ("message 3 " + "x" * 150)[:100]
        assert first.next_cursor is not None
        second = await list_conversations(db, me, participant_only=True, limit=3,
                                          cursor=first.next_cursor)
        assert [r.conversation.subject for r in second.rows] == ["Thread 1", "Thread 0"]
        assert second.next_cursor is None


async def test_listing_runs_a_bounded_number_of_statements(app: FastAPI) -> None:
    me, _ = await _seed(app, threads=40, messages_per_thread=5)
    runtime = runtime_of(app)
    async with runtime.session_factory() as db:
        with count_statements(runtime.engine) as statements:
            page = await list_conversations(db, me, participant_only=True, limit=50,
                                            cursor=None)
            await participants_of(db, [row.conversation.id for row in page.rows])
    assert len(page.rows) == 40
    assert len(statements) == 2, statements


async def test_first_page_walks_the_participant_index_without_sorting(app: FastAPI) -> None:
    me, _ = await _seed(app, threads=5, messages_per_thread=1)
    runtime = runtime_of(app)
    if runtime.engine.dialect.name != "sqlite":
        pytest.skip("reads SQLite's EXPLAIN QUERY PLAN")
    async with runtime.session_factory() as db:
        user = await db.get(User, me)
        assert user is not None
        visible = patient_filter(Caller.of(user, "plan"),
                                 Conversation.patient_id)
        assert visible is not None
        first = await list_conversations(db, me, participant_only=True, limit=2, cursor=None)
        for cursor in (None, first.next_cursor):
            query = page_ids(me, True, [visible, Conversation.status == "active"], cursor, 50)
            sql = str(query.compile(dialect=runtime.engine.dialect,
                                    compile_kwargs={"literal_binds": True}))
            rows = (await db.execute(text("EXPLAIN QUERY PLAN " + sql))).all()
            plan = "\n".join(str(row[-1]) for row in rows)
            # Newest first straight off the index, stopping after a page: no sort of all
            # of the user's threads, and visibility is probed per row, not collected.
            assert "ix_conversation_participants_user_activity (user_id=?" in plan, plan
            assert "TEMP B-TREE" not in plan, plan
            assert "LIST SUBQUERY" not in plan, plan
            assert "MATERIALIZE" not in plan, plan
