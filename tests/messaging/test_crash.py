"""A server killed with SIGKILL mid-stream loses no acknowledged message."""

from __future__ import annotations

import asyncio
import os
import signal
import subprocess
import sys
from pathlib import Path

import httpx
from fastapi import FastAPI

from quill.settings import Settings
from tests.helpers import DEFAULT_PASSWORD, runtime_of
from tests.loopback import free_port, wait_until_healthy
from tests.messaging.support import messaging_world, start_thread

ACKS_BEFORE_KILL = 12


def _start_server(settings: Settings, data_dir: Path, port: int) -> subprocess.Popen[bytes]:
    env = {key: value for key, value in os.environ.items() if not key.startswith("QUILL_")}
    env.update({"QUILL_DATABASE_URL": settings.database_url, "QUILL_DATA_DIR": str(data_dir),
                "QUILL_SECRET_KEY": settings.secret_key, "QUILL_LOG_LEVEL": "WARNING"})
    return subprocess.Popen([sys.executable, "-m", "quill", "serve", "--port", str(port)],
                            env=env, stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)


async def _bearer(http: httpx.AsyncClient, username: str) -> dict[str, str]:
    """Log in on the child server: its clock is the real one, not the test's."""
    response = await http.post("/api/auth/login",
                               json={"username": username, "password": DEFAULT_PASSWORD})
    assert response.status_code == 200, response.text
    return {"Authorization": f"Bearer {response.cookies['access_token']}"}


async def _post_until_killed(http: httpx.AsyncClient, thread_id: int, headers: dict[str, str],
                             process: subprocess.Popen[bytes]) -> list[int]:
    acknowledged: list[int] = []
    for number in range(500):
        try:
            response = await http.post(f"/api/conversations/{thread_id}/messages",
                                       json={"body": f"observation {number}"}, headers=headers)
        except httpx.TransportError:
            break  # the request in flight when the server died
        assert response.status_code == 200, response.text
        acknowledged.append(int(response.json()["id"]))
        if len(acknowledged) == ACKS_BEFORE_KILL:
            # Kill while the next request is on its way, without a clean shutdown.
            asyncio.get_running_loop().call_later(0.005, os.kill, process.pid, signal.SIGKILL)
    return acknowledged


async def test_acknowledged_messages_survive_sigkill(app: FastAPI, client: httpx.AsyncClient,
                                                     settings: Settings, tmp_path: Path) -> None:
    world = await messaging_world(app)
    thread = await start_thread(client, world)
    username = world.users["staff_same"].username
    port = free_port()
    process = _start_server(settings, tmp_path, port)
    try:
        async with httpx.AsyncClient(base_url=f"http://127.0.0.1:{port}", timeout=30) as http:
            await wait_until_healthy(http, process)
            acknowledged = await _post_until_killed(http, thread["id"],
                                                    await _bearer(http, username), process)
    finally:
        if process.poll() is None:
            process.kill()
        process.wait(timeout=30)
    assert process.returncode == -signal.SIGKILL
    assert len(acknowledged) >= ACKS_BEFORE_KILL
    # "Restart": a fresh process reading the same database must see every acknowledged one.
    port = free_port()
    process = _start_server(settings, tmp_path, port)
    try:
        async with httpx.AsyncClient(base_url=f"http://127.0.0.1:{port}", timeout=30) as http:
            await wait_until_healthy(http, process)
            detail = (await http.get(f"/api/conversations/{thread['id']}",
                                     headers=await _bearer(http, username))).json()
    finally:
        process.terminate()
        process.wait(timeout=30)
    listed = {m["id"]: m["fhir_communication_id"] for m in detail["messages"]}
    assert set(acknowledged) <= set(listed)
    runtime = runtime_of(app)
    async with runtime.session_factory() as db:
        store = runtime.fhir.store(db)
        for message_id in acknowledged:
            resource = await store.read("Communication", listed[message_id])
            assert resource["payload"][0]["contentString"].startswith("observation ")
