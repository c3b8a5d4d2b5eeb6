"""Events across workers: two app instances sharing one Redis (and one database)."""

from __future__ import annotations

import asyncio
import uuid
from collections.abc import AsyncIterator
from contextlib import AsyncExitStack

import pytest
from fastapi import FastAPI
from redis.asyncio import Redis

from quill.app import create_app
from quill.clock import ManualClock
from quill.events.bus import Event
from quill.events.redis_bus import RedisEventBus
from quill.settings import Settings
from tests.events.test_stream import stream
from tests.helpers import logged_in, runtime_of
from tests.loopback import serve

REDIS_URL = "redis://127.0.0.1:6379/0"


@pytest.fixture
def prefix() -> str:
    # Unique per test, so runs sharing a Redis server never hear each other.
    return f"quill-test-{uuid.uuid4().hex}"


@pytest.fixture
async def workers(
    app: FastAPI, settings: Settings, clock: ManualClock, prefix: str
) -> AsyncIterator[tuple[FastAPI, FastAPI]]:
    """Two workers; the ``app`` fixture is requested for its database clean-up."""
    shared = settings.model_copy(update={"redis_url": REDIS_URL, "redis_prefix": prefix})
    async with AsyncExitStack() as stack:
        pair = []
        for _ in range(2):
            worker = create_app(shared, clock=clock)
            await stack.enter_async_context(worker.router.lifespan_context(worker))
            pair.append(worker)
        yield pair[0], pair[1]


async def test_event_published_on_one_worker_reaches_a_stream_on_the_other(
    workers: tuple[FastAPI, FastAPI],
) -> None:
    first, second = workers
    alice, bob = await logged_in(first, "alice"), await logged_in(first, "bob")
    publish = runtime_of(first).events.publish
    async with serve(second) as base, stream(base, alice.headers) as reader:
        await publish(Event.create("message.created", 5, message_id=11,
                                   recipients=[bob.user_id]))
        await publish(Event.create("message.created", 5, message_id=12,
                                   recipients=[alice.user_id, bob.user_id]))
        assert await reader.event() == ("message.created",
                                         {"conversation_id": 5, "message_id": 12})


async def test_bus_ignores_foreign_messages_on_its_channel(prefix: str) -> None:
    bus, other_worker = (RedisEventBus(REDIS_URL, prefix=prefix),
                         RedisEventBus(REDIS_URL, prefix=prefix))
    raw = Redis.from_url(REDIS_URL)
    try:
        async with bus.subscribe(1) as events:
            for junk in (b"not json", b'{"type": "message.created"}', b"[1, 2]",
                         b'{"type": "x", "conversation_id": 1, "recipients": [1]}'):
                await raw.publish(bus.channel, junk)
            # Through Redis: another worker's event, published after the junk.
            await other_worker.publish(Event.create("conversation.updated", 2,
                                                    recipients=[1]))
            assert await events.get() == Event("conversation.updated", 2, None, (1,))
    finally:
        await raw.aclose()
        await bus.close()
        await other_worker.close()


async def test_own_events_reach_local_streams_once(prefix: str) -> None:
    """Delivered locally when published; the echo from Redis is skipped."""
    bus, other_worker = (RedisEventBus(REDIS_URL, prefix=prefix),
                         RedisEventBus(REDIS_URL, prefix=prefix))
    try:
        async with bus.subscribe(1) as events:
            await bus.publish(Event.create("message.created", 1, message_id=1, recipients=[1]))
            await other_worker.publish(Event.create("message.created", 2, message_id=2,
                                                    recipients=[1]))
            assert (await events.get()).conversation_id == 1
            # The next one is the other worker's: the first one's echo was not delivered.
            assert (await events.get()).conversation_id == 2
    finally:
        await bus.close()
        await other_worker.close()


async def test_publish_survives_an_unreachable_redis() -> None:
    bus = RedisEventBus("redis://127.0.0.1:1/0", prefix="unused")
    try:
        await bus.publish(Event.create("conversation.updated", 1, recipients=[1]))
    finally:
        await bus.close()


async def test_channels_with_other_prefixes_are_not_heard(prefix: str) -> None:
    mine, theirs = RedisEventBus(REDIS_URL, prefix=prefix), RedisEventBus(
        REDIS_URL, prefix=f"{prefix}-other")
    my_other_worker = RedisEventBus(REDIS_URL, prefix=prefix)
    try:
        async with mine.subscribe(1) as events:
            await theirs.publish(Event.create("message.created", 1, message_id=1,
                                              recipients=[1]))
            await my_other_worker.publish(Event.create("message.created", 2, message_id=2,
                                                       recipients=[1]))
            assert (await events.get()).conversation_id == 2
    finally:
        await mine.close()
        await theirs.close()
        await my_other_worker.close()


async def test_bus_recovers_when_its_connection_is_killed(prefix: str) -> None:
    bus, other_worker = (RedisEventBus(REDIS_URL, prefix=prefix),
                         RedisEventBus(REDIS_URL, prefix=prefix))
    admin = Redis.from_url(REDIS_URL, decode_responses=True)
    try:
        async with bus.subscribe(1) as events:
            await other_worker.publish(Event.create("message.created", 1, message_id=1,
                                                    recipients=[1]))
            assert (await events.get()).conversation_id == 1
            clients = await admin.client_list()
            ours = [c["id"] for c in clients if c.get("name") == f"{prefix}-events"
                    and int(c.get("sub", 0)) > 0]
            assert len(ours) == 1
            await admin.client_kill_filter(_id=ours[0])
            # Publish until the re-subscribed listener hears one: the channel is back.
            async with asyncio.timeout(20):
                while True:
                    await other_worker.publish(Event.create("message.created", 2,
                                                            message_id=2, recipients=[1]))
                    try:
                        async with asyncio.timeout(0.5):
                            event = await events.get()
                    except TimeoutError:
                        continue
                    assert event.conversation_id == 2
                    break
    finally:
        await admin.aclose()
        await bus.close()
        await other_worker.close()
