"""Argon2id password hashing, always off the event loop."""

from __future__ import annotations

import asyncio

from argon2 import PasswordHasher as Argon2Hasher
from argon2 import Type
from argon2.exceptions import InvalidHashError, VerificationError, VerifyMismatchError

from quill.settings import Settings


class PasswordHasher:
    def __init__(self, *, memory_kib: int, time_cost: int, parallelism: int) -> None:
        self._hasher = Argon2Hasher(
            time_cost=time_cost, memory_cost=memory_kib, parallelism=parallelism, type=Type.ID
        )
        # Verifying against this when the user does not exist keeps the timing the same.
        self._dummy_hash = self._hasher.hash("quill-dummy-password-for-timing")

    @classmethod
    def from_settings(cls, settings: Settings) -> PasswordHasher:
        return cls(memory_kib=settings.argon2_memory_kib, time_cost=settings.argon2_time_cost,
                   parallelism=settings.argon2_parallelism)

    async def hash(self, password: str) -> str:
        return await asyncio.to_thread(self._hasher.hash, password)

    def _verify_sync(self, stored_hash: str, password: str) -> bool:
        try:
            return self._hasher.verify(stored_hash, password)
        except (VerifyMismatchError, VerificationError, InvalidHashError):
            return False

    async def verify(self, stored_hash: str | None, password: str) -> bool:
        """Check a password; with no stored hash, spend the same time and answer False."""
        if stored_hash is None:
            await asyncio.to_thread(self._verify_sync, self._dummy_hash, password)
            return False
        return await asyncio.to_thread(self._verify_sync, stored_hash, password)

    def needs_rehash(self, stored_hash: str) -> bool:
        try:
            return self._hasher.check_needs_rehash(stored_hash)
        except InvalidHashError:
            return True
