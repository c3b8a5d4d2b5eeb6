"""The parts Quill runs on, built once and completely from settings, and torn down once.

``create_app`` serves HTTP over a Runtime; the CLI and demo seeding use one through
``runtime_scope`` without building the web app. Services never receive the Runtime: the
adapters hand each service the few parts it uses.
"""

from __future__ import annotations

from collections.abc import AsyncIterator, Awaitable, Callable
from contextlib import asynccontextmanager
from dataclasses import dataclass
from functools import partial

from sqlalchemy.ext.asyncio import AsyncEngine, AsyncSession, async_sessionmaker

from quill.audit.chain import install_chain
from quill.audit.checkpoints import AuditCheckpointer
from quill.auth.caller_cache import CallerCache
from quill.auth.callers import CallerSources
from quill.auth.cookies import AuthCookies
from quill.auth.generations import PostgresGeneration, RedisGeneration
from quill.auth.passwords import PasswordHasher
from quill.auth.ratelimit import RateLimiter
from quill.auth.sessions import SessionTokens
from quill.clock import Clock, IdSource, SystemClock, UuidSource
from quill.db.engine import (
    DatabaseDeadlines,
    async_url,
    make_engine,
    make_read_session_factory,
    make_reader_engine,
    make_session_factory,
)
from quill.db.session import database_accepts_writes, database_answers
from quill.email.factory import build_mailer
from quill.email.port import Mailer
from quill.events.bus import EventBus, InProcessEventBus
from quill.events.redis_bus import RedisEventBus
from quill.events.shutdown import ShutdownNotice
from quill.fhir.port import FhirGateway
from quill.fhir.timing import TimedFhirGateway
from quill.fhir.wiring import build_fhir_gateway
from quill.health.probes import HealthProbe, HealthProbes
from quill.openehr.port import CompositionGateway
from quill.openehr.wiring import build_composition_gateway
from quill.push.endpoints import EndpointPolicy
from quill.push.keys import load_vapid_keys
from quill.push.notifier import PushNotifier
from quill.settings import Settings
from quill.web.client_address import ClientAddresses
from quill.web.observability import Metrics
from quill.web.wiring import Platform, Wiring

Teardown = Callable[[], Awaitable[None]]


@dataclass(frozen=True)
class Runtime:
    settings: Settings
    clock: Clock
    ids: IdSource
    engine: AsyncEngine
    session_factory: async_sessionmaker[AsyncSession]
    # Work that only reads: no transaction (see make_reader_engine).
    reader: AsyncEngine
    read_session_factory: async_sessionmaker[AsyncSession]
    secret_key: str
    metrics: Metrics
    fhir: FhirGateway
    compositions: CompositionGateway
    mailer: Mailer
    events: EventBus
    push: PushNotifier
    passwords: PasswordHasher
    limiter: RateLimiter
    # Resolved callers reused between requests; see quill.auth.caller_cache.
    callers: CallerCache
    health: HealthProbes
    # Keyed checkpoints of the audit chain, written outside the database.
    audit_checkpoints: AuditCheckpointer
    # Begun when the server starts a graceful shutdown; live streams end on it.
    shutdown: ShutdownNotice

    @property
    def platform(self) -> Platform:
        return Platform(
            settings=self.settings, clock=self.clock, ids=self.ids,
            session_factory=self.session_factory,
            read_session_factory=self.read_session_factory, fhir=self.fhir,
            compositions=self.compositions, mailer=self.mailer, events=self.events,
        )

    def wiring(self) -> Wiring:
        """Every part an adapter may ask for, by class."""
        tokens = SessionTokens.from_settings(self.settings, self.secret_key)
        return Wiring({
            Platform: self.platform, Metrics: self.metrics, PushNotifier: self.push,
            PasswordHasher: self.passwords, RateLimiter: self.limiter,
            CallerCache: self.callers, HealthProbes: self.health,
            ShutdownNotice: self.shutdown,
            ClientAddresses: ClientAddresses.from_entries(self.settings.trusted_proxies),
            SessionTokens: tokens, AuthCookies: AuthCookies.from_settings(self.settings),
            CallerSources: CallerSources(clock=self.clock,
                                         session_factory=self.read_session_factory,
                                         callers=self.callers, tokens=tokens),
        })

    async def start(self) -> None:
        """Start the background work that needs a running event loop (the app's lifespan)."""
        self.audit_checkpoints.start()
        await self.callers.start()

    async def aclose(self) -> None:
        """The one teardown: stop what runs in the background, close clients, then the pool."""
        teardowns: list[Teardown] = [
            # First: the last checkpoint reads the chain head through the pool.
            self.audit_checkpoints.aclose,
            self.compositions.aclose, self.fhir.aclose, self.callers.aclose,
            self._release_in_process,
            self.limiter.close, self.push.close, self.events.close,
        ]
        try:
            for teardown in teardowns:
                await teardown()
        finally:
            if self.reader.sync_engine.pool is not self.engine.sync_engine.pool:
                await self.reader.dispose()
            await self.engine.dispose()

    async def _release_in_process(self) -> None:
        self.passwords.close()


def _event_bus(settings: Settings) -> EventBus:
    if settings.redis_url:
        return RedisEventBus(settings.redis_url, prefix=settings.redis_prefix,
                             timeout_seconds=settings.redis_timeout_seconds)
    return InProcessEventBus()


def _caller_cache(settings: Settings) -> CallerCache:
    """The cache with the generation that reaches every worker sharing the database:
    Redis when configured, else PostgreSQL's LISTEN/NOTIFY, else a file on this host."""
    seconds = settings.caller_cache_seconds
    if seconds <= 0:
        return CallerCache(None, 0)
    if settings.redis_url:
        return CallerCache(RedisGeneration(settings.redis_url, prefix=settings.redis_prefix),
                           seconds)
    if async_url(settings.database_url).get_backend_name() == "postgresql":
        return CallerCache(PostgresGeneration(settings.database_url), seconds)
    return CallerCache.for_data_dir(settings.data_dir, seconds)


def _readiness(events: EventBus, session_factory: async_sessionmaker[AsyncSession]
               ) -> dict[str, HealthProbe]:
    """Probes that /api/health/ready adds to /api/health's: a write, and Redis if used."""
    probes: dict[str, HealthProbe] = {
        "auth_db": partial(database_accepts_writes, session_factory)}
    if isinstance(events, RedisEventBus):
        probes["redis"] = events.ping
    return probes


def build_runtime(settings: Settings, *, clock: Clock | None = None,
                  ids: IdSource | None = None) -> Runtime:
    clock = clock or SystemClock()
    ids = ids or UuidSource()
    deadlines = DatabaseDeadlines(
        connect_seconds=settings.db_connect_timeout_seconds,
        statement_seconds=settings.db_statement_timeout_seconds,
        pool_seconds=settings.db_pool_timeout_seconds)
    engine = make_engine(settings.database_url, deadlines=deadlines)
    session_factory = make_session_factory(engine)
    reader = make_reader_engine(settings.database_url, engine, deadlines=deadlines)
    read_session_factory = make_read_session_factory(reader)
    audit_key = settings.resolved_audit_key().encode()
    install_chain(session_factory, audit_key)
    metrics = Metrics()
    fhir = TimedFhirGateway(build_fhir_gateway(settings, clock, ids, session_factory),
                            metrics.store_latency)
    compositions = build_composition_gateway(settings, clock, ids, session_factory)
    callers = _caller_cache(settings)
    callers.watch(session_factory)
    events = _event_bus(settings)

    return Runtime(
        settings=settings, clock=clock, ids=ids, engine=engine,
        session_factory=session_factory, reader=reader,
        read_session_factory=read_session_factory, secret_key=settings.resolved_secret_key(),
        metrics=metrics, fhir=fhir, compositions=compositions,
        mailer=build_mailer(settings, session_factory, clock),
        events=events,
        push=PushNotifier(
            session_factory=session_factory, keys=load_vapid_keys(settings),
            subject=settings.vapid_subject, clock=clock,
            endpoints=EndpointPolicy(allow_loopback=settings.push_allow_loopback),
            timeout_seconds=settings.outbound_timeout_seconds,
        ),
        passwords=PasswordHasher.from_settings(settings),
        limiter=RateLimiter(settings),
        callers=callers,
        # The embedded stores answer when the database does; external ones are asked.
        health=HealthProbes({"auth_db": partial(database_answers, read_session_factory),
                             "fhir": fhir.ping,
                             "ehrbase": compositions.ping},
                            ready=_readiness(events, session_factory)),
        # The checkpointer only reads: on SQLite it no longer waits for the writer's
        # connection, which sustained load could hold past the pool timeout.
        audit_checkpoints=AuditCheckpointer(
            read_session_factory, audit_key, settings.audit_checkpoint_file, clock,
            settings.audit_checkpoint_seconds),
        shutdown=ShutdownNotice(),
    )


@asynccontextmanager
async def runtime_scope(settings: Settings, *, clock: Clock | None = None,
                        ids: IdSource | None = None) -> AsyncIterator[Runtime]:
    """A Runtime for work outside HTTP (CLI commands, demo seeding), torn down on exit."""
    runtime = build_runtime(settings, clock=clock, ids=ids)
    try:
        yield runtime
    finally:
        await runtime.aclose()
