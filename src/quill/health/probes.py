"""Named checks that say whether a dependency answers; the composition root fills them."""

from __future__ import annotations

from collections.abc import Awaitable, Callable
from dataclasses import dataclass, field

HealthProbe = Callable[[], Awaitable[bool]]


@dataclass(frozen=True)
class HealthProbes:
    """``probes`` answer /api/health; ``ready`` replaces or adds to them for
    /api/health/ready (a write probe of the database, Redis when configured)."""

    probes: dict[str, HealthProbe]
    ready: dict[str, HealthProbe] = field(default_factory=dict)

    def get(self, name: str) -> HealthProbe | None:
        return self.probes.get(name)

    def readiness(self) -> dict[str, HealthProbe]:
        return {**self.probes, **self.ready}
