"""Dependencies shared by every router."""

from __future__ import annotations

from collections.abc import AsyncIterator
from typing import Annotated, Any

from fastapi import Depends, Request
from sqlalchemy.ext.asyncio import AsyncSession

from quill.audit.service import Auditor
from quill.db.session import read_only, unit_of_work
from quill.web.client_address import ClientAddresses
from quill.web.observability import request_id_of
from quill.web.wiring import Platform, platform_of, wiring_of


# Dependencies are ``async def`` even when they never await: FastAPI runs a plain ``def``
# dependency in the thread pool, a thread hop on every request that uses it.
async def get_platform(request: Request) -> Platform:
    return platform_of(request)


PlatformDep = Annotated[Platform, Depends(get_platform)]


async def get_db_session(request: Request) -> AsyncIterator[AsyncSession]:
    # The platform straight from the app rather than through PlatformDep: every
    # sub-dependency costs FastAPI a resolution step on every request.
    async with unit_of_work(platform_of(request).session_factory) as session:
        # Left on the request so that resolving the caller joins this transaction.
        request.state.db = session
        yield session


# scope="function": the commit happens before the response leaves, so a client never sees
# a success for a transaction that then failed to commit.
DbSession = Annotated[AsyncSession, Depends(get_db_session, scope="function")]


async def get_read_db_session(request: Request) -> AsyncIterator[AsyncSession]:
    """For routes that only read: no transaction, so no BEGIN or COMMIT, and on SQLite no
    wait for the write lock. A write through this session raises."""
    async with read_only(platform_of(request).read_session_factory) as session:
        request.state.db = session
        yield session


ReadDbSession = Annotated[AsyncSession, Depends(get_read_db_session, scope="function")]


def request_state(request: Request) -> dict[str, Any]:
    """The dict behind ``request.state``, for the hot path: ``request.state`` answers a
    missing key by raising and catching AttributeError, on every authenticated request."""
    state: dict[str, Any] = request.scope.setdefault("state", {})
    return state


def request_session(request: Request) -> AsyncSession | None:
    """The request's session, if one of its dependencies opened it already."""
    session: AsyncSession | None = request_state(request).get("db")
    return session


def request_auditor(request: Request, db: AsyncSession, actor_id: int | None) -> Auditor:
    wiring = wiring_of(request)
    return Auditor(db, wiring.get(Platform).clock, request_id=request_id_of(request) or None,
                   actor_id=actor_id, client_address=wiring.get(ClientAddresses).of(request))


async def get_request_auditor(request: Request, db: DbSession) -> Auditor:
    """For routes without a signed-in caller: the actor is named per entry, or is whoever
    a route-level access check (the facades') already identified."""
    actor = request_state(request).get("user_id")
    return request_auditor(request, db, actor if isinstance(actor, int) else None)


RequestAuditorDep = Annotated[Auditor, Depends(get_request_auditor)]
