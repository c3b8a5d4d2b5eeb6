"""What resolving a caller reads, gathered in one object.

``get_caller`` runs on nearly every request: with its parts in one object it makes one
wiring lookup and then reads attributes, as cheap as when it read the whole runtime.
"""

from __future__ import annotations

from dataclasses import dataclass

from sqlalchemy.ext.asyncio import AsyncSession, async_sessionmaker

from quill.auth.caller_cache import CallerCache
from quill.auth.sessions import SessionTokens
from quill.clock import Clock


@dataclass(frozen=True, slots=True)
class CallerSources:
    clock: Clock
    # Read-only sessions, for a cache miss outside any request session (see
    # quill.auth.deps.get_caller).
    session_factory: async_sessionmaker[AsyncSession]
    callers: CallerCache
    tokens: SessionTokens
