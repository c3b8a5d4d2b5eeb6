"""Dependencies shared by every router."""

from __future__ import annotations

from collections.abc import AsyncIterator
from typing import Annotated

from fastapi import Depends, Request
from sqlalchemy.ext.asyncio import AsyncSession

from quill.db.session import unit_of_work
from quill.runtime import Runtime


def get_runtime(request: Request) -> Runtime:
    runtime: Runtime = request.app.state.runtime
    return runtime


RuntimeDep = Annotated[Runtime, Depends(get_runtime)]


async def get_db_session(runtime: RuntimeDep) -> AsyncIterator[AsyncSession]:
    async with unit_of_work(runtime.session_factory) as session:
        yield session


# scope="function": the commit happens before the response leaves, so a client never sees
# a success for a transaction that then failed to commit.
DbSession = Annotated[AsyncSession, Depends(get_db_session, scope="function")]


def request_id_of(request: Request) -> str:
    return str(getattr(request.state, "request_id", ""))
