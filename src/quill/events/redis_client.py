"""How every Quill Redis client connects: bounded waits, stale connections retried once.

After Redis restarts, each pooled connection is dead but still looks open; the first
command on it fails with "connection closed". Retrying once on a fresh connection makes
that invisible, and a PING before reusing a connection idle for a while finds the dead
ones early. A Redis that is down still fails fast: connecting is refused at once, and a
paused one is given up on after ``timeout_seconds``.
"""

from __future__ import annotations

from typing import Any

from redis.asyncio.retry import Retry
from redis.backoff import NoBackoff
from redis.exceptions import ConnectionError, TimeoutError

# Seconds a pooled connection may sit idle before it is checked with PING on next use.
HEALTH_CHECK_SECONDS = 15


def redis_options(timeout_seconds: float) -> dict[str, Any]:
    """Keyword arguments for ``redis.asyncio.Redis.from_url`` (and ``limits``' storage)."""
    return {
        "socket_connect_timeout": timeout_seconds,
        "socket_timeout": timeout_seconds,
        "health_check_interval": HEALTH_CHECK_SECONDS,
        "retry": Retry(NoBackoff(), 1),
        "retry_on_error": [ConnectionError, TimeoutError, OSError],
    }
