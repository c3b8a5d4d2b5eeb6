"""Reading a Server-Sent Events stream block by block, as a browser would."""

from __future__ import annotations

import json
from collections.abc import AsyncIterator
from typing import Any

import httpx


class SseReader:
    def __init__(self, response: httpx.Response) -> None:
        self.response = response
        self._lines: AsyncIterator[str] = response.aiter_lines()

    async def block(self) -> list[str]:
        """The next event or comment: its lines up to the blank line that ends it."""
        lines: list[str] = []
        async for line in self._lines:
            if line == "":
                if lines:
                    return lines
                continue
            lines.append(line)
        raise EOFError("stream ended")

    async def event(self) -> tuple[str, dict[str, Any]]:
        """The next real event, skipping pings."""
        while True:
            lines = await self.block()
            if lines == [": ping"]:
                continue
            fields = dict(line.split(": ", 1) for line in lines)
            return fields["event"], json.loads(fields["data"])

    async def rest(self) -> list[list[str]]:
        """Every block until the server ends the stream."""
        blocks: list[list[str]] = []
        while True:
            try:
                blocks.append(await self.block())
            except EOFError:
                return blocks
