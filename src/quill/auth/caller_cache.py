"""Who is calling, remembered between requests.

Resolving a caller reads the session row, the user row and the primary organisation's
features: three statements and a transaction on every request. This cache keeps the result
per access token. An entry is only trusted while

* the token and the session are both unexpired (checked on every hit);
* the *change generation* is still the one it was filled under. A commit that touches
  users (levels, competencies, deactivation, passwords), auth sessions, staff memberships
  or organisation features moves the generation as part of committing (``watch``), before
  its response leaves; so logout, session revocation, deactivation and access changes
  apply at once on the worker that made them and, through the generation, on every other.
  Where the generation lives is a ``CallerGeneration`` chosen from settings (see
  quill.runtime): 8 bytes in a memory-mapped file in ``QUILL_DATA_DIR`` for the workers of
  one host (SQLite), or, for several hosts, Redis pub/sub (``QUILL_REDIS_URL``) or
  PostgreSQL ``LISTEN/NOTIFY`` (quill.auth.generations), which reach every host within a
  second and read as unknown, bypassing the cache, while their subscription is down;
* it is younger than ``QUILL_CALLER_CACHE_SECONDS``, a ceiling for changes made behind
  Quill's back (an operator's SQL). 0 turns the cache off.

Written here rather than taken from a caching library because the invalidation (a shared
generation moved by database commits) is the whole point, and no library offers it.
"""

from __future__ import annotations

import logging
import mmap
import os
import secrets
from collections.abc import Iterable
from dataclasses import dataclass
from datetime import datetime, timedelta
from pathlib import Path
from typing import Any, Protocol

from sqlalchemy import event
from sqlalchemy.ext.asyncio import AsyncSession, async_sessionmaker
from sqlalchemy.orm import ORMExecuteState, Session, UOWTransaction

from quill.access.models import OrganisationFeature, StaffMembership
from quill.auth.models import AuthSession
from quill.identity.caller import UserIdentity
from quill.identity.models import User

log = logging.getLogger("quill.auth")
GENERATION_BYTES = 8
GENERATION_FILE = "caller-generation"
# What a caller is made of; a write to any of these may change who someone is.
WATCHED: tuple[type[Any], ...] = (User, AuthSession, StaffMembership, OrganisationFeature)
_CHANGED = "quill.caller_data_changed"


class CallerGeneration(Protocol):
    """Where the change generation lives; any new value means "something changed"."""

    def current(self) -> bytes | None:
        """The value now, or None while changes made elsewhere could go unheard."""

    def announce_in(self, session: Session) -> None:
        """Tell the other hosts within ``session``'s transaction, if the medium allows."""

    def advance(self) -> None:
        """Move to a new value after a commit that changed caller data, and tell the
        other hosts before returning (runs inside the committing session's greenlet)."""

    async def start(self) -> None:
        """Begin following other hosts' changes; returns once the first subscription is
        confirmed or has failed (the cache is bypassed until one is)."""

    async def aclose(self) -> None: ...


class SharedGeneration:
    """8 bytes every process on the host maps; the generation of a single host (SQLite)."""

    def __init__(self, path: Path) -> None:
        path.parent.mkdir(parents=True, exist_ok=True)
        descriptor = os.open(path, os.O_RDWR | os.O_CREAT, 0o600)
        try:
            if os.fstat(descriptor).st_size < GENERATION_BYTES:
                os.ftruncate(descriptor, GENERATION_BYTES)  # only ever grows: no data lost
            self._map = mmap.mmap(descriptor, GENERATION_BYTES)
        finally:
            os.close(descriptor)

    def current(self) -> bytes:
        return self._map[:GENERATION_BYTES]

    def advance(self) -> None:
        # Random rather than a counter: writers need no lock, and any torn read still
        # differs from the value an entry was filled under.
        self._map[:GENERATION_BYTES] = secrets.token_bytes(GENERATION_BYTES)

    def announce_in(self, session: Session) -> None:
        pass  # the file itself is what the other workers read

    async def start(self) -> None:
        pass

    def close(self) -> None:
        self._map.close()

    async def aclose(self) -> None:
        self.close()


@dataclass(frozen=True, slots=True)
class CachedCaller:
    identity: UserIdentity
    session_id: str
    session_expires_at: datetime
    token_expires_at: datetime
    features: tuple[str, ...]
    # None when the generation was unknown: such an entry is never stored.
    generation: bytes | None
    stored_at: datetime


class CallerCache:
    def __init__(self, generation: CallerGeneration | None, ttl_seconds: float,
                 max_entries: int = 10_000) -> None:
        self._generation = generation
        self._ttl = timedelta(seconds=ttl_seconds)
        self._max_entries = max_entries
        self._entries: dict[str, CachedCaller] = {}

    @classmethod
    def for_data_dir(cls, data_dir: Path, ttl_seconds: float) -> CallerCache:
        if ttl_seconds <= 0:
            return cls(None, 0)
        try:
            generation = SharedGeneration(data_dir / GENERATION_FILE)
        except OSError:
            # Without the shared generation no entry could be trusted: run uncached.
            log.warning("caller cache off: cannot map its generation file",
                        exc_info=True, extra={"path": str(data_dir / GENERATION_FILE)})
            return cls(None, 0)
        return cls(generation, ttl_seconds)

    @property
    def generation(self) -> CallerGeneration | None:
        return self._generation

    @property
    def enabled(self) -> bool:
        return self._generation is not None

    def mark(self) -> bytes | None:
        """The generation to fill under; take it *before* reading the database."""
        return self._generation.current() if self._generation is not None else None

    def get(self, token: str, now: datetime) -> CachedCaller | None:
        entry = self._entries.get(token)
        if entry is None or self._generation is None:
            return None
        current = self._generation.current()
        if (current is None or entry.generation != current
                or now >= entry.token_expires_at or now >= entry.session_expires_at
                or now - entry.stored_at >= self._ttl):
            self._entries.pop(token, None)
            return None
        return entry

    def put(self, token: str, entry: CachedCaller) -> None:
        # A change committed while the entry was being read makes it stale already; an
        # unknown generation (a subscription down) trusts nothing.
        if (self._generation is None or entry.generation is None
                or entry.generation != self._generation.current()):
            return
        if len(self._entries) >= self._max_entries:
            self._entries.pop(next(iter(self._entries)))
        self._entries[token] = entry

    def changed(self) -> None:
        if self._generation is not None:
            self._generation.advance()
        self._entries.clear()

    def __len__(self) -> int:
        return len(self._entries)

    async def start(self) -> None:
        if self._generation is not None:
            await self._generation.start()

    async def aclose(self) -> None:
        self._entries.clear()
        if self._generation is not None:
            await self._generation.aclose()

    def watch(self, factory: async_sessionmaker[AsyncSession]) -> None:
        """Advance the generation whenever a session of ``factory`` commits caller data.

        The listeners go on the factory's own Session subclass (see make_session_factory),
        so two apps in one process never see each other's commits.
        """
        generation = self._generation
        if generation is None:
            return
        session_class = factory.kw.get("sync_session_class")
        if session_class is None or session_class is Session:
            raise ValueError("the factory needs a Session subclass of its own")
        event.listen(session_class, "after_flush", _note_flushed_changes)
        event.listen(session_class, "do_orm_execute", _note_bulk_changes)

        # Both hooks also fire when a savepoint is released; only the real commit counts,
        # or another worker could refill its cache from the data before that commit.
        def committing(session: Session) -> None:
            if session.in_nested_transaction():
                return
            session.flush()  # the change may still be pending; commit would flush it next
            if session.info.get(_CHANGED, False):
                generation.announce_in(session)

        # The mark is not cleared on rollback: a savepoint's rollback keeps earlier
        # flushes, and a spare invalidation costs one cache miss.
        def committed(session: Session) -> None:
            if session.in_nested_transaction():
                return
            if session.info.pop(_CHANGED, False):
                self.changed()

        event.listen(session_class, "before_commit", committing)
        event.listen(session_class, "after_commit", committed)


def _touches_callers(objects: Iterable[object], session: Session) -> bool:
    for obj in objects:
        if isinstance(obj, AuthSession) and obj in session.new:
            continue  # a new session is not in anyone's cache yet
        if isinstance(obj, WATCHED):
            return True
    return False


def _note_flushed_changes(session: Session, _flush: UOWTransaction) -> None:
    changed = (*session.new, *session.dirty, *session.deleted)
    if _touches_callers(changed, session):
        session.info[_CHANGED] = True


def _note_bulk_changes(state: ORMExecuteState) -> None:
    if not (state.is_update or state.is_delete or state.is_insert):
        return
    if any(mapper.class_ in WATCHED for mapper in state.all_mappers):
        state.session.info[_CHANGED] = True
