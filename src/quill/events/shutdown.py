"""The notice that this process has begun a graceful shutdown.

Long-lived work (live event streams) watches it so it can end cleanly while the server
drains, instead of holding the shutdown open until the grace period runs out.
"""

from __future__ import annotations

import asyncio


class ShutdownNotice:
    """Begun once, never reset. ``begin`` may be called from a signal handler."""

    def __init__(self) -> None:
        self._begun = asyncio.Event()
        self._loop: asyncio.AbstractEventLoop | None = None

    def bind(self, loop: asyncio.AbstractEventLoop) -> None:
        """Name the loop that waits on the notice, so ``begin`` can reach it from outside."""
        self._loop = loop

    def begin(self) -> None:
        """Start the shutdown. Safe from a signal handler or another thread once bound:
        the event is set on its own loop, never in the middle of that loop's work."""
        loop = self._loop
        if loop is not None and not loop.is_closed():
            loop.call_soon_threadsafe(self._begun.set)
        else:
            self._begun.set()

    @property
    def begun(self) -> bool:
        return self._begun.is_set()

    async def wait(self) -> None:
        await self._begun.wait()
