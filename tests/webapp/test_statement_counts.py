"""Each page sends a bounded number of SQL statements: the same for 5 rows as for 500.

Counted as the listing tests count them (tests/statements.py), on the second request of
a signed-in browser, so both counts see the caller cache in the same state.
"""

from __future__ import annotations

import uuid
from datetime import timedelta

import httpx
from fastapi import FastAPI
from sqlalchemy import insert

from quill.auth.models import AuthSession
from quill.messaging.models import ConversationParticipant
from tests.helpers import make_organisation, make_user, runtime_of
from tests.messaging.bulk import load_threads
from tests.statements import count_statements
from tests.webapp.support import browser, signed_in


async def _statements(app: FastAPI, http: httpx.AsyncClient, path: str) -> list[str]:
    assert (await http.get(path)).status_code == 200
    with count_statements(runtime_of(app).engine) as statements:
        response = await http.get(path)
    assert response.status_code == 200
    return statements


async def test_home_costs_the_same_for_5_or_500_threads(app: FastAPI) -> None:
    runtime = runtime_of(app)
    few = await make_user(app, "few-threads", level="staff", profession="doctor")
    many = await make_user(app, "many-threads", level="staff", profession="doctor")
    writer = await make_user(app, "writer", level="staff", profession="nurse")
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
    async with signed_in(app, "few-threads") as http:
        small = await _statements(app, http, "/")
        assert (await http.get("/")).text.count('class="thread-list__item') == 5
    async with signed_in(app, "many-threads") as http:
        large = await _statements(app, http, "/")
        page = (await http.get("/")).text
        assert page.count('class="thread-list__item') == 50
        assert "1 unread" in page  # each thread: two messages, one from the writer
    assert len(small) == len(large), (small, large)
    assert len(large) <= 6, large


async def test_account_costs_the_same_for_5_or_500_sessions(app: FastAPI) -> None:
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
            statements = await _statements(app, http, "/account")
            listed = (await http.get("/account")).text.count('class="session-list__item"')
            assert listed == sessions
        counts.append(len(statements))
    assert counts[0] == counts[1], counts
    assert counts[1] <= 3


async def test_pages_shown_before_sign_in_send_no_statements(app: FastAPI) -> None:
    async with browser(app) as http:
        for path in ("/sign-in", "/forgot-password", "/reset-password?token=abc"):
            assert await _statements(app, http, path) == [], path
