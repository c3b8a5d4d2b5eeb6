"""Argon2id password hashing, always off the event loop."""

from __future__ import annotations

import asyncio
import logging
import os
import sys
import threading
from collections.abc import Callable
from concurrent.futures import ThreadPoolExecutor
from typing import TypeVar

from argon2 import PasswordHasher as Argon2Hasher
from argon2 import Type
from argon2.exceptions import InvalidHashError, VerificationError, VerifyMismatchError

from quill.settings import Settings

log = logging.getLogger("quill.auth")
T = TypeVar("T")
# Hashing threads also run this much "nicer" than the event loop (Linux niceness, 0..19),
# which still counts where SCHED_IDLE (below) is refused.
HASHING_NICENESS = 19


def _lower_this_threads_priority() -> None:
    # On Linux, niceness and scheduling policy are per thread: changing them here leaves
    # the event loop's thread alone, so a burst of logins cannot starve requests that need
    # only a little CPU. Under SCHED_IDLE a waking request takes the core from a hash at
    # once; at niceness 19 alone it could wait for the rest of the hash's time slice, which
    # doubled /auth/me's p99 beside a login storm in the benchmark. The price is paid only
    # on a saturated core: hashes still progress there, slowly (a 20 ms hash took 8 s
    # beside a busy loop, 1.7 s at niceness 19 alone). Signed-in users come first.
    if sys.platform != "linux":
        return
    thread_id = threading.get_native_id()
    try:
        current = os.getpriority(os.PRIO_PROCESS, thread_id)
        os.setpriority(os.PRIO_PROCESS, thread_id, min(19, current + HASHING_NICENESS))
        os.sched_setscheduler(thread_id, os.SCHED_IDLE, os.sched_param(0))
    except OSError:
        log.warning("could not lower the password hashing thread's priority", exc_info=True)


def hashing_executor(threads: int) -> ThreadPoolExecutor:
    return ThreadPoolExecutor(max_workers=threads, thread_name_prefix="quill-argon2",
                              initializer=_lower_this_threads_priority)


class PasswordHasher:
    def __init__(self, *, memory_kib: int, time_cost: int, parallelism: int,
                 threads: int = 1) -> None:
        self._hasher = Argon2Hasher(
            time_cost=time_cost, memory_cost=memory_kib, parallelism=parallelism, type=Type.ID
        )
        # Verifying against this when the user does not exist keeps the timing the same.
        self._dummy_hash = self._hasher.hash("quill-dummy-password-for-timing")
        self._executor = hashing_executor(threads)

    async def _off_loop(self, work: Callable[..., T], *args: str) -> T:
        return await asyncio.get_running_loop().run_in_executor(self._executor, work, *args)

    def close(self) -> None:
        self._executor.shutdown(wait=False, cancel_futures=True)

    @classmethod
    def from_settings(cls, settings: Settings) -> PasswordHasher:
        return cls(memory_kib=settings.argon2_memory_kib, time_cost=settings.argon2_time_cost,
                   parallelism=settings.argon2_parallelism,
                   threads=settings.password_hashing_threads)

    async def hash(self, password: str) -> str:
        return await self._off_loop(self._hasher.hash, password)

    def _verify_sync(self, stored_hash: str, password: str) -> bool:
        try:
            return self._hasher.verify(stored_hash, password)
        except (VerifyMismatchError, VerificationError, InvalidHashError):
            return False

    async def verify(self, stored_hash: str | None, password: str) -> bool:
        """Check a password; with no stored hash, spend the same time and answer False."""
        if stored_hash is None:
            await self._off_loop(self._verify_sync, self._dummy_hash, password)
            return False
        return await self._off_loop(self._verify_sync, stored_hash, password)

    def needs_rehash(self, stored_hash: str) -> bool:
        try:
            return self._hasher.check_needs_rehash(stored_hash)
        except InvalidHashError:
            return True
