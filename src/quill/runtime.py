"""Everything create_app wires together, reachable from a request as ``app.state.runtime``."""

from __future__ import annotations

from collections.abc import Awaitable, Callable
from dataclasses import dataclass, field

from sqlalchemy.ext.asyncio import AsyncEngine, AsyncSession, async_sessionmaker

from quill.auth.passwords import PasswordHasher
from quill.clock import Clock, IdSource
from quill.fhir.port import FhirGateway
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
    health_probes: dict[str, HealthProbe] = field(default_factory=dict)
    shutdown_hooks: list[ShutdownHook] = field(default_factory=list)
