"""Everything create_app wires together, reachable from a request as ``app.state.runtime``."""

from __future__ import annotations

from collections.abc import Awaitable, Callable
from dataclasses import dataclass, field

from sqlalchemy.ext.asyncio import AsyncEngine, AsyncSession, async_sessionmaker

from quill.auth.passwords import PasswordHasher
from quill.auth.ratelimit import RateLimiter
from quill.clock import Clock, IdSource
from quill.email.port import Mailer
from quill.settings import Settings

HealthProbe = Callable[[], Awaitable[bool]]
ShutdownHook = Callable[[], Awaitable[None]]


@dataclass
class Runtime:
    settings: Settings
    clock: Clock
    ids: IdSource
    engine: AsyncEngine
    session_factory: async_sessionmaker[AsyncSession]
    secret_key: str
    passwords: PasswordHasher
    # Send mail after commit, e.g. quill.email.port.send_after_response(...).
    mailer: Mailer
    limiter: RateLimiter
    health_probes: dict[str, HealthProbe] = field(default_factory=dict)
    shutdown_hooks: list[ShutdownHook] = field(default_factory=list)
