"""Database outages become one error, ServiceUnavailable, wherever they surface.

A database that is down, restarting, paused, full or read-only fails in many shapes: an
OSError or a TimeoutError from the driver while connecting, a PostgreSQL SQLSTATE, an
SQLite message, a pool with no free connection. The engine's hooks below turn each of them
into ``ServiceUnavailable("database", reason)``, so every caller (a request, a stream's
re-check, the CLI) sees the same thing, and the web layer answers 503 with Retry-After.
Errors that are not outages (a constraint, a bug in a query) pass through untouched.
"""

from __future__ import annotations

import sqlite3
from collections.abc import Callable
from typing import Any

from sqlalchemy import event
from sqlalchemy import exc as sa_exc
from sqlalchemy.engine import Connection, Dialect, ExceptionContext
from sqlalchemy.ext.asyncio import AsyncEngine

from quill.errors import ServiceUnavailable

DEPENDENCY = "database"

# PostgreSQL SQLSTATEs that mean "not now" rather than "wrong request".
_SQLSTATE_REASONS = {
    "57014": "statement timed out",
    "57P01": "server shutting down (admin shutdown)",
    "57P02": "server crashed (crash shutdown)",
    "57P03": "server starting up or shutting down",
    "53000": "insufficient resources",
    "53100": "disk full",
    "53200": "out of memory",
    "53300": "too many connections",
    "25006": "read-only transaction",
    "58030": "disk I/O error",
}
# SQLite reports its outages only as text.
_SQLITE_REASONS = {
    "database or disk is full": "disk full",
    "attempt to write a readonly database": "database is read-only",
    "disk i/o error": "disk I/O error",
    "unable to open database file": "cannot open the database file",
    "database is locked": "database stayed locked past the busy timeout",
}
# Connection.info key: the outage that broke this connection's current transaction.
_OUTAGE_KEY = "quill_outage"
# Reasons after which the connection itself cannot be trusted: it is thrown away.
_BROKEN_CONNECTION = frozenset({"timed out", "connection failed", "connection lost"})


def _chain(error: BaseException) -> list[BaseException]:
    """The error, what it wraps (``orig``), and its causes, without loops."""
    seen: list[BaseException] = []
    pending: list[BaseException | None] = [error]
    while pending:
        current = pending.pop()
        if current is None or any(current is item for item in seen):
            continue
        seen.append(current)
        pending.extend([getattr(current, "orig", None), current.__cause__])
    return seen


def _reason_of_one(error: BaseException) -> str | None:
    if isinstance(error, ServiceUnavailable):
        return error.reason
    if isinstance(error, sa_exc.TimeoutError):
        return "no pooled connection free within the pool timeout"
    if isinstance(error, TimeoutError):
        return "timed out"
    sqlstate = getattr(error, "sqlstate", None)
    if isinstance(sqlstate, str):
        if sqlstate in _SQLSTATE_REASONS:
            return _SQLSTATE_REASONS[sqlstate]
        if sqlstate.startswith("08"):
            return "connection failed"
    if isinstance(error, sa_exc.DBAPIError) and error.connection_invalidated:
        return "connection lost"
    if isinstance(error, sqlite3.Error) or type(error).__module__.startswith("sqlalchemy"):
        text = str(error).lower()
        for message, reason in _SQLITE_REASONS.items():
            if message in text:
                return reason
    if isinstance(error, OSError | ConnectionError):
        return "connection failed"
    if type(error).__name__ in {"ConnectionDoesNotExistError", "InterfaceError"} and (
            "connection" in str(error).lower() and "closed" in str(error).lower()):
        return "connection lost"
    return None


def outage_reason(error: BaseException) -> str | None:
    """Why ``error`` means the database cannot serve now, or None when it means something
    else (a constraint, a bad query)."""
    for item in _chain(error):
        reason = _reason_of_one(item)
        if reason is not None:
            return reason
    return None


def as_unavailable(error: BaseException) -> ServiceUnavailable | None:
    if isinstance(error, ServiceUnavailable):
        return error
    reason = outage_reason(error)
    return None if reason is None else ServiceUnavailable(DEPENDENCY, reason)


def _on_error(context: ExceptionContext) -> BaseException | None:
    if context.is_pre_ping:
        # The pool reconnects after a failed ping by itself (a restarted server); an
        # outage shows up in that reconnect.
        return None
    connection = context.connection
    unavailable = as_unavailable(context.original_exception)
    if unavailable is None:
        # SQLite rolls the whole transaction back on a full disk, so the savepoint
        # rollback that follows fails ("no such savepoint"): only the outage seen again.
        earlier = None if connection is None else connection.info.get(_OUTAGE_KEY)
        if earlier is None:
            return None
        unavailable = ServiceUnavailable(DEPENDENCY, earlier)
    elif connection is not None:
        connection.info[_OUTAGE_KEY] = unavailable.reason
    if unavailable.reason in _BROKEN_CONNECTION:
        # A driver that timed out mid-statement may still wait for the server's answer:
        # the connection is closed rather than handed to the next request.
        context.is_disconnect = True
    raise unavailable from context.original_exception


def _transaction_ended(connection: Connection) -> None:
    connection.info.pop(_OUTAGE_KEY, None)


def _connect(dialect: Dialect, _record: Any, cargs: Any, cparams: Any) -> Any:
    try:
        return dialect.connect(*cargs, **cparams)
    except Exception as error:
        unavailable = as_unavailable(error)
        if unavailable is None:
            raise
        raise unavailable from error


def _ping_or_unavailable(ping: Callable[[Any], bool]) -> Callable[[Any], bool]:
    def checked(dbapi_connection: Any) -> bool:
        try:
            return ping(dbapi_connection)
        except TimeoutError as error:
            # The pool treats only driver errors as "reconnect"; a ping that hangs past
            # the statement deadline is a paused or unreachable server.
            raise ServiceUnavailable(DEPENDENCY, "timed out") from error

    return checked


def install_outage_mapping(engine: AsyncEngine) -> None:
    """Make every outage of this engine's database raise ServiceUnavailable."""
    sync_engine = engine.sync_engine
    event.listen(sync_engine, "do_connect", _connect)
    event.listen(sync_engine, "handle_error", _on_error)
    event.listen(sync_engine, "rollback", _transaction_ended)
    event.listen(sync_engine, "commit", _transaction_ended)
    dialect = sync_engine.dialect
    # Per engine, not per class: only this engine's pings are wrapped.
    setattr(dialect, "do_ping", _ping_or_unavailable(dialect.do_ping))  # noqa: B010
