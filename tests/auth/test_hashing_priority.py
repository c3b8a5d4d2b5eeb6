"""Password hashing runs below the event loop's priority, so a login burst cannot starve it,
and one worker runs only as many hashes at once as it is configured for."""

from __future__ import annotations

import asyncio
import os
import sys
import threading
from collections.abc import Callable

import pytest
from pydantic import ValidationError

from quill.auth.passwords import HASHING_NICENESS, PasswordHasher, hashing_executor
from quill.settings import Settings

linux_only = pytest.mark.skipif(sys.platform != "linux",
                                reason="per-thread niceness and policy are Linux features")


def _own_niceness() -> int:
    return os.getpriority(os.PRIO_PROCESS, threading.get_native_id())


def _own_policy() -> int:
    return os.sched_getscheduler(threading.get_native_id())


def _seen_from_a_hashing_thread(probe: Callable[[], int]) -> int:
    executor = hashing_executor(threads=1)
    try:
        return executor.submit(probe).result(timeout=10)
    finally:
        executor.shutdown()


@linux_only
def test_hashing_threads_are_nicer_than_the_caller() -> None:
    hashing = _seen_from_a_hashing_thread(_own_niceness)
    assert hashing == min(19, _own_niceness() + HASHING_NICENESS)
    assert hashing > _own_niceness() or _own_niceness() == 19


@linux_only
def test_hashing_threads_yield_the_core_to_any_other_thread() -> None:
    hashing = _seen_from_a_hashing_thread(_own_policy)
    assert _own_policy() != os.SCHED_IDLE
    assert hashing == os.SCHED_IDLE


async def _threads_that_hashed(threads: int) -> int:
    """How many hashing threads four concurrent hashes started, with ``threads`` allowed."""
    before = set(threading.enumerate())
    hasher = PasswordHasher.from_settings(Settings(
        argon2_memory_kib=4096, argon2_time_cost=1, password_hashing_threads=threads))
    try:
        hashes = await asyncio.gather(*(hasher.hash(f"password-{n}") for n in range(4)))
        started = [t for t in threading.enumerate()
                   if t not in before and t.name.startswith("quill-argon2")]
    finally:
        hasher.close()
    assert len(set(hashes)) == 4
    return len(started)


async def test_hashes_beyond_the_configured_threads_wait_their_turn() -> None:
    assert await _threads_that_hashed(1) == 1
    # The measure can tell: allowed more, the same four hashes spread over threads.
    assert await _threads_that_hashed(3) > 1


def test_at_least_one_hashing_thread() -> None:
    with pytest.raises(ValidationError):
        Settings(password_hashing_threads=0)
    assert Settings().password_hashing_threads == 1
