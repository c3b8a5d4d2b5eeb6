"""The in-process bus and the event wire format."""

from __future__ import annotations

import pytest

from quill.events.bus import Event, InProcessEventBus, Subscription


async def test_in_process_bus_delivers_to_each_subscription_of_a_recipient() -> None:
    bus = InProcessEventBus()
    async with bus.subscribe(1) as tab_one, bus.subscribe(1) as tab_two, bus.subscribe(2) as other:
        await bus.publish(Event.create("message.created", 4, message_id=8, recipients=[1]))
        await bus.publish(Event.create("conversation.updated", 5, recipients=[2]))
        assert (await tab_one.get()).message_id == 8
        assert (await tab_two.get()).message_id == 8
        assert (await other.get()).conversation_id == 5
    assert bus.subscriber_count == 0


def test_event_round_trips_through_json() -> None:
    event = Event.create("message.created", 3, message_id=9, recipients=[2, 1, 2])
    assert event.recipients == (1, 2)
    assert Event.from_json(event.to_json()) == event


@pytest.mark.parametrize("raw", [
    "", "null", "[]", '{"type": "other", "conversation_id": 1, "recipients": []}',
    '{"type": "message.created", "conversation_id": true, "recipients": []}',
    '{"type": "message.created", "conversation_id": 1, "message_id": "x", "recipients": []}',
    '{"type": "message.created", "conversation_id": 1, "recipients": ["1"]}',
])
def test_malformed_events_are_rejected(raw: str) -> None:
    with pytest.raises(ValueError, match=r"."):
        Event.from_json(raw)


async def test_lagging_subscriber_keeps_the_newest_events() -> None:
    subscription = Subscription(1, buffer=2)
    for conversation_id in (1, 2, 3):
        subscription.offer(Event.create("conversation.updated", conversation_id,
                                        recipients=[1]))
    assert [(await subscription.get()).conversation_id for _ in range(2)] == [2, 3]
