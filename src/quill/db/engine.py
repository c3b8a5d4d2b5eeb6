"""Engine and session factory built from settings; nothing here is module-level state."""

from __future__ import annotations

import time
from dataclasses import dataclass
from typing import Any

from sqlalchemy import event
from sqlalchemy import exc as sa_exc
from sqlalchemy.engine import URL, make_url
from sqlalchemy.ext.asyncio import (
    AsyncEngine,
    AsyncSession,
    async_sessionmaker,
    create_async_engine,
)
from sqlalchemy.orm import Session
from sqlalchemy.sql.elements import TextClause

from quill.db.faults import install_outage_mapping


@dataclass(frozen=True)
class DatabaseDeadlines:
    """How long any database step may take before the caller gets a 503."""

    connect_seconds: float = 5.0
    # PostgreSQL cancels a statement past this itself; the driver gives up on a server
    # that does not answer at all (paused, unreachable) a moment later. None = no limit
    # (migrations, whose index builds may rightly take long).
    statement_seconds: float | None = 15.0
    # Waiting for a free pooled connection.
    pool_seconds: float = 10.0
    # A pooled PostgreSQL connection unused for longer than this is pinged before it is
    # handed out (see _liveness_check).
    idle_ping_seconds: float = 5.0

    def postgres_connect_args(self) -> dict[str, Any]:
        args: dict[str, Any] = {"timeout": self.connect_seconds}
        if self.statement_seconds is not None:
            args["command_timeout"] = self.statement_seconds + 1.0
            args["server_settings"] = {
                "statement_timeout": str(int(self.statement_seconds * 1000))}
        return args


def async_url(url: str) -> URL:
    """Accept plain ``postgresql://`` / ``sqlite:///`` URLs and pick the async driver."""
    parsed = make_url(url)
    backend = parsed.get_backend_name()
    if backend == "sqlite":
        return parsed.set(drivername="sqlite+aiosqlite")
    if backend in {"postgresql", "postgres"}:
        return parsed.set(drivername="postgresql+asyncpg")
    raise ValueError(f"unsupported database URL scheme: {parsed.drivername}")


def sync_url(url: str) -> URL:
    """The same database through a synchronous driver (used by Alembic and CLI checks)."""
    parsed = async_url(url)
    if parsed.get_backend_name() == "sqlite":
        return parsed.set(drivername="sqlite")
    return parsed.set(drivername="postgresql+asyncpg")


def is_sqlite(engine: AsyncEngine) -> bool:
    return engine.dialect.name == "sqlite"


def _sqlite_pragmas(dbapi_connection: Any, _record: Any) -> None:
    # Let SQLAlchemy, not the driver, decide when a transaction starts (see _sqlite_begin).
    dbapi_connection.isolation_level = None
    cursor = dbapi_connection.cursor()
    cursor.execute("PRAGMA foreign_keys=ON")
    cursor.execute("PRAGMA journal_mode=WAL")
    cursor.execute("PRAGMA synchronous=NORMAL")
    cursor.execute("PRAGMA busy_timeout=10000")
    cursor.close()


def _sqlite_begin(connection: Any) -> None:
    # Take the write lock up front: a deferred transaction that read first fails with
    # SQLITE_BUSY when it later tries to write after another writer committed.
    connection.exec_driver_sql("BEGIN IMMEDIATE")


def make_engine(url: str, *, echo: bool = False,
                deadlines: DatabaseDeadlines | None = None) -> AsyncEngine:
    """The engine for ``url``; an outage of its database raises ServiceUnavailable."""
    engine = _build_engine(async_url(url), echo, deadlines or DatabaseDeadlines())
    install_outage_mapping(engine)
    return engine


def _build_engine(target: URL, echo: bool, deadlines: DatabaseDeadlines) -> AsyncEngine:
    if target.get_backend_name() == "sqlite":
        database = target.database or ""
        # A "file:" URI (?uri=true, e.g. mode=ro) names a file that must exist already.
        if database and database != ":memory:" and not database.startswith("file:"):
            from pathlib import Path

            Path(database).parent.mkdir(parents=True, exist_ok=True)
        # Every transaction takes SQLite's write lock up front (see _sqlite_begin), so a
        # process gains nothing from a second connection: it would only wait in SQLite's
        # busy handler, which sleeps in growing steps (to 100 ms) and serves waiters out of
        # order. One connection makes requests queue in the pool, first come first served.
        engine = create_async_engine(target, echo=echo, pool_size=1, max_overflow=0,
                                     pool_timeout=deadlines.pool_seconds)
        event.listen(engine.sync_engine, "connect", _sqlite_pragmas)
        event.listen(engine.sync_engine, "begin", _sqlite_begin)
        return engine
    engine = create_async_engine(target, echo=echo, pool_size=10, max_overflow=10,
                                 pool_timeout=deadlines.pool_seconds,
                                 connect_args=deadlines.postgres_connect_args())
    event.listen(engine.sync_engine, "checkin", _note_checkin)
    event.listen(engine.sync_engine, "checkout",
                 _liveness_check(engine.sync_engine.dialect, deadlines.idle_ping_seconds))
    return engine


_CHECKED_IN_AT = "quill_checked_in_at"


def _note_checkin(_dbapi_connection: Any, record: Any) -> None:
    if record is not None:
        record.info[_CHECKED_IN_AT] = time.monotonic()


def _liveness_check(dialect: Any, idle_ping_seconds: float) -> Any:
    def check(dbapi_connection: Any, record: Any, _proxy: Any) -> None:
        """Hand out only connections that can still work, mostly without a round trip.

        The pool's own pre-ping costs three round trips on every checkout with asyncpg
        (BEGIN, a query, ROLLBACK), more than some requests spend on their own statements.
        A server that restarted or dropped the connection has already said so on the
        socket, which asyncpg notices while the connection sits idle in the pool: such a
        connection is replaced at no cost. Only one that sat idle long enough for a silent
        drop (a firewall, a network change) to be possible is pinged. A server that hangs
        mid-request is left to the statement deadline, which answers 503 and discards the
        connection.
        """
        driver = record.driver_connection
        if driver is None or driver.is_closed():
            raise sa_exc.DisconnectionError("connection closed while pooled")
        idle_since = record.info.get(_CHECKED_IN_AT)
        if idle_since is None or time.monotonic() - idle_since <= idle_ping_seconds:
            return
        try:
            # The outage mapping wraps do_ping: a ping that hangs is a 503, not a retry.
            dialect.do_ping(dbapi_connection)
        except Exception as error:
            if not dialect.is_disconnect(error, dbapi_connection, None):
                raise
            raise sa_exc.DisconnectionError("pooled connection failed its ping") from error

    return check


# Connections of a process that only read, on SQLite: WAL lets each read beside the writer.
SQLITE_READERS = 4


def make_reader_engine(url: str, writer: AsyncEngine, *,
                       deadlines: DatabaseDeadlines | None = None) -> AsyncEngine:
    """Connections for work that only reads: no transaction is ever begun on them.

    On PostgreSQL this is the writer's pool in autocommit, which saves the BEGIN and COMMIT
    round trips; each statement still reads committed data as of its start, exactly as in
    the writer's READ COMMITTED transactions. On SQLite it is a pool of its own without
    BEGIN IMMEDIATE: a read needs neither the write lock nor the one writer connection, so
    it no longer queues behind requests that write.
    """
    target = async_url(url)
    if target.get_backend_name() != "sqlite":
        return writer.execution_options(isolation_level="AUTOCOMMIT")
    deadlines = deadlines or DatabaseDeadlines()
    engine = create_async_engine(target, pool_size=SQLITE_READERS, max_overflow=0,
                                 pool_timeout=deadlines.pool_seconds)
    event.listen(engine.sync_engine, "connect", _sqlite_pragmas)
    install_outage_mapping(engine)
    return engine


def _refuse_writes(state: Any) -> None:
    statement = state.statement
    if isinstance(statement, TextClause):
        writes = statement.text.lstrip()[:6].upper() != "SELECT"
    else:
        writes = state.is_insert or state.is_update or state.is_delete
    if writes:
        raise RuntimeError("a read-only session was asked to write")


def _refuse_flush(_session: Any, _context: Any, _instances: Any) -> None:
    raise RuntimeError("a read-only session was asked to write")


def make_read_session_factory(reader: AsyncEngine) -> async_sessionmaker[AsyncSession]:
    """Sessions on the reader engine. A write through one raises at once: without a
    transaction it would commit statement by statement, and the audit chain is not
    installed on these sessions, so recording an entry fails as well."""
    factory = make_session_factory(reader)
    session_class = factory.kw["sync_session_class"]
    event.listen(session_class, "do_orm_execute", _refuse_writes)
    event.listen(session_class, "before_flush", _refuse_flush)
    return factory


def make_session_factory(engine: AsyncEngine) -> async_sessionmaker[AsyncSession]:
    # A Session class of the factory's own, so data-layer listeners (the caller cache's
    # invalidation) hear this factory's commits and no other app's in the same process.
    session_class = type("QuillSession", (Session,), {})
    return async_sessionmaker(engine, expire_on_commit=False, autoflush=True,
                              sync_session_class=session_class)
