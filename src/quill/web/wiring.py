"""What adapters (routers, pages, facades) may ask for: the collaborators the composition
root built once, each found by its class.

Services never see these objects: an adapter's one ``get_service`` dependency takes the
few collaborators its service uses and passes them in.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any, TypeVar, cast

from fastapi import Request
from sqlalchemy.ext.asyncio import AsyncSession, async_sessionmaker

from quill.clock import Clock, IdSource
from quill.email.port import Mailer
from quill.events.bus import EventBus
from quill.fhir.port import FhirGateway
from quill.openehr.port import CompositionGateway
from quill.settings import Settings

T = TypeVar("T")


@dataclass(frozen=True)
class Platform:
    """The collaborators almost every adapter needs, all of them ports or plain values."""

    settings: Settings
    clock: Clock
    ids: IdSource
    session_factory: async_sessionmaker[AsyncSession]
    # Sessions that never begin a transaction, for requests that only read.
    read_session_factory: async_sessionmaker[AsyncSession]
    fhir: FhirGateway
    compositions: CompositionGateway
    mailer: Mailer
    events: EventBus


class Wiring:
    """Built collaborators by class. Filled once by the composition root, then read only."""

    def __init__(self, parts: dict[type[Any], object]) -> None:
        for kind, part in parts.items():
            if not isinstance(part, kind):
                raise TypeError(f"{part!r} is not a {kind.__name__}")
        self._parts = dict(parts)

    def get(self, kind: type[T]) -> T:
        try:
            return cast(T, self._parts[kind])
        except KeyError:
            raise LookupError(f"nothing of type {kind.__name__} was wired") from None


def wiring_of(request: Request) -> Wiring:
    wiring: Wiring = request.app.state.wiring
    return wiring


def platform_of(request: Request) -> Platform:
    return wiring_of(request).get(Platform)
