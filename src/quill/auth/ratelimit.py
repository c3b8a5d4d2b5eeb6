"""Rate limits for the public auth routes, in-process or shared through Redis.

Built once per app in create_app; nothing here is module-level state.
"""

from __future__ import annotations

import hashlib
import logging
import math
import time
from collections.abc import Sequence
from dataclasses import dataclass

from limits import RateLimitItem, parse
from limits.aio.storage import MemoryStorage, RedisStorage, Storage
from limits.aio.strategies import MovingWindowRateLimiter
from limits.errors import StorageError
from starlette.requests import Request

from quill.errors import RateLimited, ServiceUnavailable
from quill.events.redis_client import redis_options
from quill.settings import Settings
from quill.web.client_address import client_address, parse_networks

log = logging.getLogger("quill.ratelimit")


@dataclass(frozen=True)
class Limits:
    login: RateLimitItem
    register: RateLimitItem
    forgot: RateLimitItem
    reset: RateLimitItem

    @classmethod
    def from_settings(cls, settings: Settings) -> Limits:
        return cls(parse(settings.rate_limit_login), parse(settings.rate_limit_register),
                   parse(settings.rate_limit_forgot), parse(settings.rate_limit_reset))


def _key(value: str) -> str:
    # Hashing keeps arbitrary client-supplied text (usernames) out of storage keys.
    return hashlib.sha256(value.encode("utf-8", "surrogatepass")).hexdigest()[:32]


class RateLimiter:
    """Counts attempts per client address and, for login, per username."""

    def __init__(self, settings: Settings, *, trusted_proxies: Sequence[str] = ()) -> None:
        self.limits = Limits.from_settings(settings)
        self.trusted = parse_networks(trusted_proxies or settings.trusted_proxies)
        self._redis_url = settings.redis_url
        self._redis_timeout = settings.redis_timeout_seconds
        self._prefix = f"{settings.redis_prefix}:ratelimit"
        self._storage: Storage | None = None
        self._strategy: MovingWindowRateLimiter | None = None

    def _limiter(self) -> MovingWindowRateLimiter:
        # Created on first use so that construction needs no running event loop.
        if self._strategy is None:
            if self._redis_url:
                self._storage = RedisStorage(
                    "async+" + self._redis_url, implementation="redispy",
                    key_prefix=self._prefix, wrap_exceptions=True,
                    **redis_options(self._redis_timeout),
                )
            else:
                self._storage = MemoryStorage()
            self._strategy = MovingWindowRateLimiter(self._storage)
        return self._strategy

    def client(self, request: Request) -> str:
        return client_address(request, self.trusted)

    async def _hit(self, item: RateLimitItem, *identifiers: str) -> float | None:
        """Count one attempt; return seconds to wait when over the limit, else None."""
        limiter = self._limiter()
        try:
            if await limiter.hit(item, *identifiers):
                return None
            stats = await limiter.get_window_stats(item, *identifiers)
        except StorageError as exc:
            # Logged by the error handler, naming Redis as the dependency.
            raise ServiceUnavailable(
                "redis", f"rate limit storage: {type(exc.storage_error).__name__}") from exc
        return max(1.0, stats.reset_time - time.time())

    @staticmethod
    def _refuse(wait: float) -> RateLimited:
        return RateLimited("Too many requests, try again later",
                           headers={"Retry-After": str(math.ceil(wait))})

    async def check(self, name: str, item: RateLimitItem, request: Request) -> None:
        wait = await self._hit(item, name, "client", _key(self.client(request)))
        if wait is not None:
            raise self._refuse(wait)

    async def check_login(self, request: Request, username: str) -> None:
        """Every attempt counts against both the client and the username."""
        item = self.limits.login
        by_client = await self._hit(item, "login", "client", _key(self.client(request)))
        by_user = await self._hit(item, "login", "user", _key(username.strip().lower()))
        waits = [w for w in (by_client, by_user) if w is not None]
        if waits:
            raise self._refuse(max(waits))

    async def close(self) -> None:
        storage = self._storage
        if isinstance(storage, RedisStorage):
            client = getattr(storage.bridge, "storage", None)
            if client is not None:
                await client.aclose()
