"""Route dependencies that gate on competencies."""

from __future__ import annotations

from collections.abc import Awaitable, Callable

from quill.access.cbac import Competency, final_competencies
from quill.auth.deps import Caller, CurrentCaller
from quill.errors import Forbidden
from quill.users.identity import UserIdentity
from quill.users.models import User


def user_competencies(user: User | UserIdentity) -> list[str]:
    return final_competencies(user.base_profession, list(user.additional_competencies),
                              list(user.removed_competencies))


def require_competency(competency: Competency) -> Callable[[Caller], Awaitable[Caller]]:
    """``Depends(require_competency(Competency.X))``: 403 ``Missing competency: x``.

    Authentication (and CSRF) come first through ``CurrentCaller``, so an anonymous
    caller still gets 401.
    """

    async def dependency(caller: CurrentCaller) -> Caller:
        if competency.value not in user_competencies(caller.user):
            raise Forbidden(f"Missing competency: {competency.value}")
        return caller

    dependency.__name__ = f"require_{competency.value}"
    return dependency
