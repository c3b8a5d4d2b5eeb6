"""Everything create_app wires together, reachable from a request as ``app.state.runtime``."""

from __future__ import annotations

from collections.abc import Awaitable, Callable
from dataclasses import dataclass, field

from sqlalchemy.ext.asyncio import AsyncEngine, AsyncSession, async_sessionmaker

from quill.auth.caller_cache import CallerCache
from quill.auth.passwords import PasswordHasher
from quill.auth.ratelimit import RateLimiter
from quill.clock import Clock, IdSource
from quill.email.port import Mailer
from quill.events.bus import EventBus
from quill.fhir.port import FhirGateway
from quill.openehr.port import CompositionStore
from quill.push.notifier import PushNotifier
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
    fhir: FhirGateway
    # Send mail after commit, e.g. quill.email.port.send_after_response(...).
    mailer: Mailer
    limiter: RateLimiter
    health_probes: dict[str, HealthProbe] = field(default_factory=dict)
    shutdown_hooks: list[ShutdownHook] = field(default_factory=list)
    # openEHR: call with the request's session; the embedded store joins its transaction.
    compositions: Callable[[AsyncSession], CompositionStore] | None = None
    # Live events for SSE streams (in-process, or Redis when QUILL_REDIS_URL is set).
    events: EventBus = field(kw_only=True)
    # Seconds of silence before an SSE stream sends ": ping"; tests shorten it.
    events_ping_seconds: float = field(default=15.0, kw_only=True)
    push: PushNotifier = field(kw_only=True)
    # Resolved callers reused between requests; see quill.auth.caller_cache.
    callers: CallerCache = field(kw_only=True)

    def composition_store(self, db: AsyncSession) -> CompositionStore:
        """The openEHR store for this session (wired by create_app)."""
        if self.compositions is None:
            raise RuntimeError("no CompositionStore wired; build the app with create_app")
        return self.compositions(db)
