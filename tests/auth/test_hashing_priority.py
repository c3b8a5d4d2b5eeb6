"""Password hashing runs below the event loop's priority, so a login burst cannot starve it."""

from __future__ import annotations

import os
import sys
import threading

import pytest

from quill.auth.passwords import HASHING_NICENESS, hashing_executor


def _own_niceness() -> int:
    return os.getpriority(os.PRIO_PROCESS, threading.get_native_id())


@pytest.mark.skipif(sys.platform != "linux", reason="per-thread niceness is a Linux feature")
def test_hashing_threads_are_nicer_than_the_caller() -> None:
    executor = hashing_executor(threads=1)
    try:
        hashing = executor.submit(_own_niceness).result(timeout=10)
    finally:
        executor.shutdown()
    assert hashing == min(19, _own_niceness() + HASHING_NICENESS)
    assert hashing > _own_niceness() or _own_niceness() == 19
