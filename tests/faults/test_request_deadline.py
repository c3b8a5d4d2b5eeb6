"""The request deadline spares an event stream once it has started."""

from __future__ import annotations

import asyncio
from pathlib import Path

import httpx

from quill.events.bus import Event
from quill.migrations.run import upgrade
from tests.events.sse import SseReader
from tests.faults.apps import GUARD_SECONDS, fault_app, http_client
from tests.helpers import logged_in, runtime_of
from tests.loopback import serve


async def test_event_stream_outlives_the_request_deadline(tmp_path: Path) -> None:
    url = f"sqlite:///{tmp_path / 'quill.db'}"
    await asyncio.to_thread(upgrade, url)
    async with fault_app(url, tmp_path, request_timeout_seconds=0.3,
                         events_ping_seconds=0.9) as app, serve(app) as base:
        hana = await logged_in(app, "hana")
        async with (
            httpx.AsyncClient(base_url=base, timeout=GUARD_SECONDS) as http,
            http.stream("GET", "/api/conversations/events", headers=hana.headers) as response,
        ):
            assert response.status_code == 200
            reader = SseReader(response)
            async with asyncio.timeout(GUARD_SECONDS):
                assert await reader.block() == [": connected"]
                # The ping comes after three deadlines' worth of silence: still open.
                assert await reader.block() == [": ping"]
                await runtime_of(app).events.publish(Event.create(
                    "message.created", 7, message_id=8, recipients=[hana.user_id]))
                assert await reader.event() == ("message.created",
                                                {"conversation_id": 7, "message_id": 8})
        # Ordinary requests still answer within the deadline.
        async with http_client(app) as plain:
            assert (await plain.get("/api/auth/me", headers=hana.headers)).status_code == 200
