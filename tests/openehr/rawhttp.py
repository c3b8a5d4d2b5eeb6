"""A tiny loopback HTTP peer that answers every request the same way (or never)."""

from __future__ import annotations

import asyncio
from collections.abc import AsyncIterator
from contextlib import asynccontextmanager
from dataclasses import dataclass, field


@dataclass
class RawPeer:
    url: str
    requests: list[bytes] = field(default_factory=list)


@asynccontextmanager
async def raw_peer(status: int | None, body: bytes = b"{}") -> AsyncIterator[RawPeer]:
    """Answer ``status`` with ``body``; with ``status=None`` read the request and stay silent."""
    peer = RawPeer("")
    release = asyncio.Event()

    async def handle(reader: asyncio.StreamReader, writer: asyncio.StreamWriter) -> None:
        head = await reader.readuntil(b"\r\n\r\n")
        peer.requests.append(head)
        if status is None:
            await release.wait()
        else:
            writer.write(b"HTTP/1.1 %d X\r\nContent-Type: application/json\r\n"
                         b"Content-Length: %d\r\nConnection: close\r\n\r\n%s"
                         % (status, len(body), body))
            await writer.drain()
        writer.close()

    server = await asyncio.start_server(handle, "127.0.0.1", 0)
    port = server.sockets[0].getsockname()[1]
    peer.url = f"http://127.0.0.1:{port}"
    try:
        yield peer
    finally:
        release.set()
        server.close()
        await server.wait_closed()
