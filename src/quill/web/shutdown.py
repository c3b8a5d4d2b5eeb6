"""Telling the app that the server has begun a graceful shutdown.

An ASGI server hears SIGTERM, stops accepting connections and waits for the open ones to
finish; the app hears of it only through the lifespan's shutdown, which comes after that
wait. A live event stream never finishes on its own, so without an earlier word it would
hold every shutdown open until the grace period ran out and then be cut off.
"""

from __future__ import annotations

import asyncio
import signal
import threading
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from types import FrameType
from typing import Any

from quill.events.shutdown import ShutdownNotice

EXIT_SIGNALS = (signal.SIGTERM, signal.SIGINT)
Handler = Callable[[int, FrameType | None], Any] | int | None


def _chained(notice: ShutdownNotice, previous: dict[int, Handler]) -> Callable[
        [int, FrameType | None], None]:
    def handler(signum: int, frame: FrameType | None) -> None:
        notice.begin()
        before = previous[signum]
        if callable(before):
            before(signum, frame)  # the server's own handler: it starts the drain
        elif before == signal.SIG_DFL:
            # Nobody handled it before us: keep the default outcome (the process ends).
            signal.signal(signum, signal.SIG_DFL)
            signal.raise_signal(signum)
    return handler


@contextmanager
def notice_on_exit_signals(notice: ShutdownNotice) -> Iterator[None]:
    """While open, SIGTERM and SIGINT begin ``notice``, then reach whatever handled them
    before (uvicorn's handler, installed before the app starts).

    Only the main thread may set signal handlers; an app run on another thread (a test
    client's) is left as it was.
    """
    if threading.current_thread() is not threading.main_thread():
        yield
        return
    notice.bind(asyncio.get_running_loop())
    previous: dict[int, Handler] = {sig: signal.getsignal(sig) for sig in EXIT_SIGNALS}
    handler = _chained(notice, previous)
    for sig in EXIT_SIGNALS:
        signal.signal(sig, handler)
    try:
        yield
    finally:
        for sig in EXIT_SIGNALS:
            if signal.getsignal(sig) is handler:
                signal.signal(sig, previous[sig])
