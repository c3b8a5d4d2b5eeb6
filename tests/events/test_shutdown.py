"""A live stream ends with a reconnection hint once the server begins shutting down."""

from __future__ import annotations

import asyncio
import os
import signal

import pytest
from fastapi import FastAPI

from quill.events.bus import Event
from quill.events.shutdown import ShutdownNotice
from quill.events.stream import RECONNECT_MS
from quill.web.shutdown import notice_on_exit_signals
from tests.events.test_stream import stream
from tests.helpers import logged_in, runtime_of
from tests.loopback import serve


def _retry_of(block: list[str]) -> int:
    fields = dict(line.split(": ", 1) for line in block if not line.startswith(":"))
    return int(fields["retry"])


async def test_open_stream_ends_with_a_retry_hint(app: FastAPI) -> None:
    alice = await logged_in(app, "alice")
    runtime = runtime_of(app)
    async with serve(app) as base, stream(base, alice.headers) as reader:
        await runtime.events.publish(Event.create("message.created", 4, message_id=2,
                                                  recipients=[alice.user_id]))
        assert await reader.event() == ("message.created",
                                        {"conversation_id": 4, "message_id": 2})
        runtime.shutdown.begin()
        blocks = await asyncio.wait_for(reader.rest(), 10)
    assert len(blocks) == 1, blocks
    low, high = RECONNECT_MS
    assert low <= _retry_of(blocks[0]) <= high


async def test_stream_opened_while_shutting_down_is_told_to_go_elsewhere(app: FastAPI) -> None:
    alice = await logged_in(app, "alice")
    runtime_of(app).shutdown.begin()
    async with serve(app) as base, stream(base, alice.headers) as reader:
        blocks = await asyncio.wait_for(reader.rest(), 10)
    assert [_retry_of(block) > 0 for block in blocks] == [True]


async def test_sigterm_begins_the_notice_then_reaches_the_previous_handler() -> None:
    heard: list[int] = []
    previous = signal.signal(signal.SIGTERM, lambda signum, _frame: heard.append(signum))
    notice = ShutdownNotice()
    try:
        with notice_on_exit_signals(notice):
            os.kill(os.getpid(), signal.SIGTERM)
            await asyncio.wait_for(notice.wait(), 5)
        assert notice.begun
        assert heard == [signal.SIGTERM]
        # Left as it was found: a second signal reaches the earlier handler alone.
        os.kill(os.getpid(), signal.SIGTERM)
        assert heard == [signal.SIGTERM, signal.SIGTERM]
    finally:
        signal.signal(signal.SIGTERM, previous)


@pytest.mark.parametrize("signum", [signal.SIGTERM, signal.SIGINT])
async def test_handlers_are_restored_on_exit(signum: int) -> None:
    before = signal.getsignal(signum)
    with notice_on_exit_signals(ShutdownNotice()):
        assert signal.getsignal(signum) is not before
    assert signal.getsignal(signum) is before
