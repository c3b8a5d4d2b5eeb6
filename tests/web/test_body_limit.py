"""Bodies over QUILL_MAX_BODY_BYTES are a 413 on every route, before anything parses them.

Over real HTTP the server answers while the client still holds back most of the body (or
the end of a chunked one): the refusal does not wait for, and so never buffers, the body.
"""

from __future__ import annotations

import asyncio
import json
from collections.abc import AsyncIterator
from pathlib import Path

import httpx
import pytest
from fastapi import FastAPI

from quill.clock import ManualClock
from quill.settings import Settings
from tests.conftest import make_settings, running_app
from tests.helpers import logged_in
from tests.loopback import serve

LIMIT = 4096
# Generous guard so a server that waits for the whole body fails rather than hangs.
READ_GUARD_SECONDS = 20


@pytest.fixture
async def small_limit_app(database_url: str, tmp_path: Path,
                          clock: ManualClock) -> AsyncIterator[FastAPI]:
    settings = make_settings(database_url, tmp_path, max_body_bytes=LIMIT)
    async with running_app(settings, clock) as application:
        yield application


def _json_of_size(size: int) -> bytes:
    """A valid JSON login body of exactly ``size`` bytes (padded with whitespace)."""
    skeleton = json.dumps({"username": "someone", "password": "not the password"}).encode()
    return skeleton + b" " * (size - len(skeleton))


async def _post(app: FastAPI, path: str, body: bytes,
                headers: dict[str, str] | None = None) -> httpx.Response:
    transport = httpx.ASGITransport(app=app)
    async with httpx.AsyncClient(transport=transport, base_url="http://testserver") as http:
        return await http.post(path, content=body, headers={
            "content-type": "application/json", **(headers or {})})


def test_default_limit_is_one_mebibyte(tmp_path: Path) -> None:
    assert Settings(data_dir=tmp_path).max_body_bytes == 1024 * 1024
    assert Settings(data_dir=tmp_path, max_body_bytes="2048").max_body_bytes == 2048


async def test_default_limit_refuses_a_large_login(client: httpx.AsyncClient) -> None:
    response = await client.post("/api/auth/login", content=_json_of_size(1024 * 1024 + 1),
                                 headers={"content-type": "application/json"})
    assert response.status_code == 413
    assert response.json()["detail"].startswith("Request body too large")
    assert response.headers["x-request-id"]


async def test_every_route_refuses_an_oversized_body(small_limit_app: FastAPI) -> None:
    admin = await logged_in(small_limit_app, "limit-admin", level="superadmin")
    body = _json_of_size(LIMIT + 1)
    routes = [("/api/auth/login", None), ("/api/auth/register", None),
              ("/api/accept-invite", None), ("/api/conversations", admin.headers),
              ("/api/patients", admin.headers), ("/fhir/Patient", admin.headers),
              ("/api/no-such-route", None)]
    for path, headers in routes:
        response = await _post(small_limit_app, path, body, headers)
        assert response.status_code == 413, (path, response.text)
    within = await _post(small_limit_app, "/api/auth/login", _json_of_size(LIMIT))
    assert within.status_code == 400, within.text


async def _exchange(base: str, head: bytes, chunks: list[bytes]) -> bytes:
    """Send ``head`` and ``chunks`` over one connection and read the answer until the
    server closes it, without ever finishing the body."""
    host, port = base.removeprefix("http://").split(":")
    reader, writer = await asyncio.open_connection(host, int(port))
    try:
        writer.write(head)
        for chunk in chunks:
            writer.write(chunk)
        await writer.drain()
        async with asyncio.timeout(READ_GUARD_SECONDS):
            return await reader.read()
    finally:
        writer.close()


def _head(path: str, extra: str) -> bytes:
    return (f"POST {path} HTTP/1.1\r\nHost: 127.0.0.1\r\n"
            f"Content-Type: application/json\r\n{extra}\r\n").encode()


def _status_and_body(raw: bytes) -> tuple[int, dict[str, object]]:
    head, _, body = raw.partition(b"\r\n\r\n")
    status = int(head.split(b" ", 2)[1])
    return status, json.loads(body)


async def test_declared_length_is_refused_before_the_body_is_sent(
    small_limit_app: FastAPI
) -> None:
    async with serve(small_limit_app) as base:
        # Five megabytes announced, not one byte sent: the answer cannot have read them.
        raw = await _exchange(base, _head("/api/auth/login", "Content-Length: 5000000\r\n"),
                              [])
    status, body = _status_and_body(raw)
    assert status == 413
    assert str(body["detail"]).startswith("Request body too large")


def _chunk(data: bytes) -> bytes:
    return f"{len(data):x}\r\n".encode() + data + b"\r\n"


async def test_chunked_body_is_refused_once_it_crosses_the_limit(
    small_limit_app: FastAPI
) -> None:
    chunks = [_chunk(b"x" * 1024) for _ in range(LIMIT // 1024 + 1)]
    async with serve(small_limit_app) as base:
        # No terminating chunk: the server must answer from what crossed the limit.
        raw = await _exchange(base, _head("/api/auth/login", "Transfer-Encoding: chunked\r\n"),
                              chunks)
    status, body = _status_and_body(raw)
    assert status == 413, raw[:300]
    assert str(body["detail"]).startswith("Request body too large")


async def test_chunked_body_within_the_limit_is_served(small_limit_app: FastAPI) -> None:
    body = _json_of_size(LIMIT - 10)
    chunks = [_chunk(body[:1000]), _chunk(body[1000:]), b"0\r\n\r\n"]
    head = _head("/api/auth/login", "Transfer-Encoding: chunked\r\nConnection: close\r\n")
    async with serve(small_limit_app) as base:
        raw = await _exchange(base, head, chunks)
    status, answer = _status_and_body(raw)
    assert status == 400
    assert answer == {"detail": "Invalid credentials"}
