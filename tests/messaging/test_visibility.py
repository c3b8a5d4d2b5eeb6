"""Who sees which thread, and who hears about it, as access changes."""

from __future__ import annotations

import asyncio
from collections.abc import AsyncIterator

import httpx
import pytest
from fastapi import FastAPI

from quill.access.models import ExternalGrant, StaffMembership
from quill.events.bus import Event
from tests.access.world import World
from tests.helpers import LoggedIn, bearer_headers, make_user, runtime_of
from tests.loopback import serve
from tests.messaging.support import messaging_world, start_thread
from tests.push.pushservice import Browser, PushService


async def _relative(app: FastAPI, world: World) -> LoggedIn:
    """A patient advocate holding an active grant for patient A."""
    user = await make_user(app, "m-relative", level="patient_advocate",
                           profession="patient_advocate")
    runtime = runtime_of(app)
    async with runtime.session_factory() as db, db.begin():
        db.add(ExternalGrant(user_id=user.id, patient_id=world.patient_a,
                             user_type="patient_advocate", granted_at=runtime.clock.now(),
                             revoked_at=None))
    return LoggedIn(user.id, user.username, await bearer_headers(app, user))


async def _colleague(app: FastAPI, world: World) -> LoggedIn:
    """A second staff member of organisation A."""
    user = await make_user(app, "m-colleague", level="staff", profession="registered_nurse")
    runtime = runtime_of(app)
    async with runtime.session_factory() as db, db.begin():
        db.add(StaffMembership(organisation_id=world.org_a, user_id=user.id, is_primary=True,
                               created_at=runtime.clock.now()))
    return LoggedIn(user.id, user.username, await bearer_headers(app, user))


async def _thread_ids(client: httpx.AsyncClient, path: str, headers: dict[str, str]
                      ) -> list[int]:
    response = await client.get(path, headers=headers)
    assert response.status_code == 200, response.text
    return sorted(c["id"] for c in response.json()["conversations"])


async def test_staff_only_threads_are_unknown_to_patients_and_relatives(
    app: FastAPI, client: httpx.AsyncClient,
) -> None:
    world = await messaging_world(app)
    relative = await _relative(app, world)
    staff_only = (await start_thread(client, world))["id"]
    with_relative = (await start_thread(client, world, participant_ids=[relative.user_id]))["id"]
    with_patient = (await start_thread(client, world, include_patient_as_participant=True))["id"]
    about = f"/api/patients/{world.patient_a}/conversations"
    patient = world.headers["patient"]

    for headers in (patient, relative.headers):
        for path in (f"/api/conversations/{staff_only}",
                     f"/api/conversations/{staff_only}/participants"):
            assert (await client.get(path, headers=headers)).status_code == 404
        posted = await client.post(f"/api/conversations/{staff_only}/messages",
                                   json={"body": "hello?"}, headers=headers)
        assert posted.status_code == 404
    # The patient sees the threads that include them; the relative only the one they are in,
    # even though they may see the patient.
    assert await _thread_ids(client, about, patient) == [with_patient]
    assert await _thread_ids(client, about, relative.headers) == [with_relative]
    assert await _thread_ids(client, "/api/conversations", relative.headers) == [with_relative]
    assert (await client.get(f"/api/conversations/{with_relative}",
                             headers=relative.headers)).status_code == 200
    # Staff keep seeing every thread about the patient.
    everything = sorted([staff_only, with_relative, with_patient])
    assert await _thread_ids(client, about, world.headers["staff_same"]) == everything
    assert await _thread_ids(client, about, world.headers["admin"]) == everything


@pytest.fixture
def push_service() -> PushService:
    return PushService()


@pytest.fixture
async def push_url(push_service: PushService) -> AsyncIterator[str]:
    async with serve(push_service) as base:
        yield base


async def _subscribe(client: httpx.AsyncClient, headers: dict[str, str], endpoint: str
                     ) -> None:
    response = await client.post("/api/push/subscribe", headers=headers,
                                 json=Browser().subscription(endpoint))
    assert response.status_code == 200, response.text


async def test_events_and_pushes_follow_revoked_access(
    app: FastAPI, client: httpx.AsyncClient, push_service: PushService, push_url: str,
) -> None:
    world = await messaging_world(app)
    relative, colleague = await _relative(app, world), await _colleague(app, world)
    admin = world.users["admin"].id
    thread = await start_thread(client, world,
                                participant_ids=[relative.user_id, colleague.user_id, admin])
    for name, headers in (("relative", relative.headers), ("colleague", colleague.headers),
                          ("admin", world.headers["admin"])):
        await _subscribe(client, headers, f"{push_url}/{name}")
    revoked = await client.delete(
        f"/api/patients/{world.patient_a}/external-access/{relative.user_id}",
        headers=world.headers["admin"])
    assert revoked.status_code == 200, revoked.text
    removed = await client.delete(f"/api/organizations/{world.org_a}/staff/{colleague.user_id}",
                                  headers=world.headers["admin"])
    assert removed.status_code == 200, removed.text

    runtime = runtime_of(app)
    await runtime.push.drain()
    push_service.received.clear()  # whatever the thread's creation sent
    async with runtime.events.subscribe(admin) as admin_events, \
            runtime.events.subscribe(relative.user_id) as relative_events, \
            runtime.events.subscribe(colleague.user_id) as colleague_events:
        posted = await client.post(f"/api/conversations/{thread['id']}/messages",
                                   json={"body": "Results are back"},
                                   headers=world.headers["staff_same"])
        assert posted.status_code == 200
        event = await asyncio.wait_for(admin_events.get(), timeout=5)
        assert event.message_id == posted.json()["id"]
        # Markers published after the post arrive first: the post reached neither of them.
        for user_id, events in ((relative.user_id, relative_events),
                                (colleague.user_id, colleague_events)):
            marker = Event.create("conversation.updated", -1, recipients=[user_id])
            await runtime.events.publish(marker)
            assert await asyncio.wait_for(events.get(), timeout=5) == marker
    await runtime.push.drain()
    assert [r.path for r in push_service.received] == ["/admin"]


async def test_lists_and_reads_follow_revoked_access_for_the_same_caller(
    app: FastAPI, client: httpx.AsyncClient
) -> None:
    """The visibility rule is built once per user and reused: the same caller, asking
    again after losing access, must no longer see the thread."""
    world = await messaging_world(app)
    relative, colleague = await _relative(app, world), await _colleague(app, world)
    thread = await start_thread(client, world,
                                participant_ids=[relative.user_id, colleague.user_id])
    for who in (relative, colleague):
        assert await _thread_ids(client, "/api/conversations", who.headers) == [thread["id"]]
        read = await client.get(f"/api/conversations/{thread['id']}", headers=who.headers)
        assert read.status_code == 200
    revoked = await client.delete(
        f"/api/patients/{world.patient_a}/external-access/{relative.user_id}",
        headers=world.headers["admin"])
    assert revoked.status_code == 200, revoked.text
    removed = await client.delete(f"/api/organizations/{world.org_a}/staff/{colleague.user_id}",
                                  headers=world.headers["admin"])
    assert removed.status_code == 200, removed.text
    for who in (relative, colleague):
        assert await _thread_ids(client, "/api/conversations", who.headers) == []
        read = await client.get(f"/api/conversations/{thread['id']}", headers=who.headers)
        assert read.status_code == 404
