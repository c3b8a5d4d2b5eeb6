"""Which driver errors mean "the database cannot serve now" (real driver exception types)."""

from __future__ import annotations

import sqlite3

import asyncpg
import pytest
from sqlalchemy import exc as sa_exc

from quill.db.faults import outage_reason


@pytest.mark.parametrize(("error", "reason"), [
    (asyncpg.exceptions.CannotConnectNowError("the database system is starting up"),
     "server starting up or shutting down"),
    (asyncpg.exceptions.AdminShutdownError("terminating connection due to administrator "
                                           "command"), "server shutting down (admin shutdown)"),
    (asyncpg.exceptions.CrashShutdownError("crash"), "server crashed (crash shutdown)"),
    (asyncpg.exceptions.DiskFullError("could not extend file"), "disk full"),
    (asyncpg.exceptions.QueryCanceledError("canceling statement due to statement timeout"),
     "statement timed out"),
    (asyncpg.exceptions.TooManyConnectionsError("sorry, too many clients"),
     "too many connections"),
    (asyncpg.exceptions.ReadOnlySQLTransactionError("read-only"), "read-only transaction"),
    (asyncpg.exceptions.ConnectionDoesNotExistError("connection was closed"),
     "connection failed"),
    (ConnectionRefusedError(111, "Connect call failed"), "connection failed"),
    (TimeoutError(), "timed out"),
    (sqlite3.OperationalError("database or disk is full"), "disk full"),
    (sqlite3.OperationalError("attempt to write a readonly database"),
     "database is read-only"),
    (sqlite3.OperationalError("disk I/O error"), "disk I/O error"),
    (sa_exc.TimeoutError("QueuePool limit reached"),
     "no pooled connection free within the pool timeout"),
])
def test_outages_are_recognised_through_sqlalchemys_wrapping(
        error: Exception, reason: str) -> None:
    wrapped = sa_exc.OperationalError("SELECT 1", {}, error)
    assert outage_reason(error) == reason
    assert outage_reason(wrapped) == reason


@pytest.mark.parametrize("error", [
    asyncpg.exceptions.UniqueViolationError("duplicate key"),
    sqlite3.IntegrityError("UNIQUE constraint failed: users.username_key"),
    sqlite3.OperationalError("no such table: nothing"),
    ValueError("not a database error"),
])
def test_other_errors_are_not_outages(error: Exception) -> None:
    assert outage_reason(error) is None
    assert outage_reason(sa_exc.DBAPIError("SELECT 1", {}, error)) is None
