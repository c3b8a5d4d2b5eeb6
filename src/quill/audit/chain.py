"""The keyed chain: what an entry's MAC covers, and appending staged entries at commit.

Entries are staged on the session when they are recorded and join the chain in the
session's ``before_commit`` hook. The head row is locked there, after the recorded change
itself is flushed, so the lock lasts for the commit only and never for the rest of a
request: audited requests on different workers run side by side and queue just for the
instant their transactions commit. The chain order is therefore the commit order.
"""

from __future__ import annotations

import hashlib
import hmac
import json
from dataclasses import dataclass, replace
from datetime import UTC, datetime

from sqlalchemy import Insert, Select, Table, bindparam, event, insert, select, update
from sqlalchemy.dialects import postgresql, sqlite
from sqlalchemy.ext.asyncio import AsyncSession, async_sessionmaker
from sqlalchemy.orm import Session, SessionTransaction

from quill.audit.models import AuditEvent, AuditHead

GENESIS_HASH = "0" * 64
HEAD_ROW_ID = 1
_PENDING = "quill.audit.pending"
_KEY = "quill.audit.key"
_INSTALLED = "_quill_audit_chain"


@dataclass(frozen=True)
class AuditEntry:
    action: str
    resource_type: str
    resource_id: str | None = None
    patient_id: str | None = None
    actor_id: int | None = None
    request_id: str | None = None
    # Who the request came from: the peer, or the client a trusted proxy named.
    client_address: str | None = None


def mac(key: bytes, content: object) -> str:
    """HMAC-SHA256 over the compact JSON of ``content``, in hex."""
    text = json.dumps(content, separators=(",", ":"))
    return hmac.new(key, text.encode(), hashlib.sha256).hexdigest()


def entry_hash(key: bytes, seq: int, at: datetime, entry: AuditEntry, prev_hash: str) -> str:
    content: list[object] = [seq, at.astimezone(UTC).isoformat(), entry.actor_id,
                             entry.action, entry.resource_type, entry.resource_id,
                             entry.patient_id, entry.request_id, prev_hash]
    # Covered when present; an entry without one (the CLI's, seeding's) is MACed exactly
    # as entries were before client addresses were recorded.
    if entry.client_address is not None:
        content.append(entry.client_address)
    return mac(key, content)


def entry_of(event: AuditEvent) -> AuditEntry:
    return AuditEntry(
        action=event.action, resource_type=event.resource_type, resource_id=event.resource_id,
        patient_id=event.patient_id, actor_id=event.actor_id, request_id=event.request_id,
        client_address=event.client_address,
    )


@dataclass(frozen=True)
class _Staged:
    at: datetime
    entry: AuditEntry
    # The (possibly nested) transaction it was recorded in; a savepoint rolled back
    # takes its entries with it.
    transaction: SessionTransaction | None


def install_chain(factory: async_sessionmaker[AsyncSession], key: bytes) -> None:
    """Make every session of ``factory`` append its staged entries when it commits.

    The listeners go on the factory's own Session subclass (see make_session_factory); the
    key travels in each session's ``info``.
    """
    session_class = factory.kw.get("sync_session_class")
    if session_class is None or session_class is Session:
        raise ValueError("the factory needs a Session subclass of its own")
    # A mark on the class itself: event.contains can answer for a collected class that
    # happened to live at the same address.
    if not session_class.__dict__.get(_INSTALLED, False):
        setattr(session_class, _INSTALLED, True)
        event.listen(session_class, "before_commit", _append_staged)
        event.listen(session_class, "after_soft_rollback", _forget_rolled_back)
        event.listen(session_class, "after_transaction_end", _forget_at_end)
    factory.configure(info={**factory.kw.get("info", {}), _KEY: key})


def _clip(value: str | None, width: int) -> str | None:
    return value[:width] if value is not None else None


def fitted(entry: AuditEntry) -> AuditEntry:
    """The entry with identifiers a caller chose (facade paths, say) cut to the column
    widths, so an over-long one is recorded rather than failing the request."""
    return replace(entry, action=entry.action[:64], resource_type=entry.resource_type[:64],
                   resource_id=_clip(entry.resource_id, 128),
                   patient_id=_clip(entry.patient_id, 64),
                   request_id=_clip(entry.request_id, 128),
                   client_address=_clip(entry.client_address, 64))


async def stage(db: AsyncSession, at: datetime, entry: AuditEntry) -> None:
    """Record ``entry`` in the session's transaction; it is chained when that commits."""
    if not isinstance(db.info.get(_KEY), bytes):
        raise RuntimeError("the audit chain is not installed on this session's factory")
    # Begin now, so a unit of work whose only write is this entry still commits.
    await db.connection()
    sync = db.sync_session
    transaction = sync.get_nested_transaction() or sync.get_transaction()
    db.info.setdefault(_PENDING, []).append(_Staged(at, fitted(entry), transaction))


# Core statements on the tables, built once: appending runs on every audited request, and
# the ORM's unit of work (identity map, per-object flush bookkeeping) only cost time here.
_EVENTS: Table = AuditEvent.__table__  # type: ignore[assignment]  # a declarative Table
_HEAD: Table = AuditHead.__table__  # type: ignore[assignment]
# FOR UPDATE holds the head until this commit ends on PostgreSQL; SQLite transactions
# start with BEGIN IMMEDIATE, which already serialises writers.
_LOCK_HEAD: Select[tuple[int, str]] = (
    select(_HEAD.c.seq, _HEAD.c.hash).where(_HEAD.c.id == HEAD_ROW_ID).with_for_update())
_INSERT_EVENTS = insert(_EVENTS)
_MOVE_HEAD = update(_HEAD).where(_HEAD.c.id == HEAD_ROW_ID)
# PostgreSQL takes the head's move inside the entry's INSERT (a data-modifying WITH): one
# round trip fewer while the head is locked, for the usual single entry of a request.
_INSERT_ONE_MOVING_HEAD: Insert = insert(_EVENTS).add_cte(
    _MOVE_HEAD.values(seq=bindparam("head_seq"), hash=bindparam("head_hash"))
    .cte("moved_head"))


def _locked_head(session: Session) -> tuple[int, str]:
    """The newest entry's (seq, hash), its row locked until this transaction ends."""
    head = session.execute(_LOCK_HEAD).one_or_none()
    if head is None:
        # Only the very first entry creates the head; concurrent first writers meet here.
        dialect = session.get_bind().dialect.name
        first = postgresql.insert if dialect == "postgresql" else sqlite.insert
        session.execute(first(AuditHead).values(id=HEAD_ROW_ID, seq=0, hash=GENESIS_HASH)
                        .on_conflict_do_nothing(index_elements=["id"]))
        head = session.execute(_LOCK_HEAD).one()
    return int(head.seq), str(head.hash)


def _append_staged(session: Session) -> None:
    if session.in_nested_transaction():
        return  # a savepoint released; its entries wait for the real commit
    pending: list[_Staged] = session.info.get(_PENDING) or []
    if not pending:
        return
    key: bytes = session.info[_KEY]
    # Write the recorded change first: once the head is locked only audit rows follow, so
    # no one waits for the head while holding locks this transaction needs.
    session.flush()
    seq, prev = _locked_head(session)
    rows = []
    for staged in pending:
        seq += 1
        digest = entry_hash(key, seq, staged.at, staged.entry, prev)
        rows.append({
            "seq": seq, "at": staged.at, "actor_id": staged.entry.actor_id,
            "action": staged.entry.action, "resource_type": staged.entry.resource_type,
            "resource_id": staged.entry.resource_id, "patient_id": staged.entry.patient_id,
            "request_id": staged.entry.request_id,
            "client_address": staged.entry.client_address, "prev_hash": prev, "hash": digest,
        })
        prev = digest
    if len(rows) == 1 and session.get_bind().dialect.name == "postgresql":
        session.execute(_INSERT_ONE_MOVING_HEAD, {**rows[0], "head_seq": seq, "head_hash": prev})
    else:
        session.execute(_INSERT_EVENTS, rows)
        session.execute(_MOVE_HEAD.values(seq=seq, hash=prev))
    pending.clear()


def _within(transaction: SessionTransaction | None, ancestor: SessionTransaction) -> bool:
    while transaction is not None:
        if transaction is ancestor:
            return True
        transaction = transaction.parent
    return False


def _forget_rolled_back(session: Session, previous_transaction: SessionTransaction) -> None:
    pending: list[_Staged] | None = session.info.get(_PENDING)
    if pending:
        pending[:] = [s for s in pending if not _within(s.transaction, previous_transaction)]


def _forget_at_end(session: Session, transaction: SessionTransaction) -> None:
    # The outermost transaction ended (committed, rolled back or closed): nothing staged
    # in it may leak into the session's next transaction.
    if transaction.parent is None:
        pending: list[_Staged] | None = session.info.get(_PENDING)
        if pending:
            pending.clear()
