"""Named checks that say whether a dependency answers; the composition root fills them."""

from __future__ import annotations

from collections.abc import Awaitable, Callable
from dataclasses import dataclass

HealthProbe = Callable[[], Awaitable[bool]]


@dataclass(frozen=True)
class HealthProbes:
    probes: dict[str, HealthProbe]

    def get(self, name: str) -> HealthProbe | None:
        return self.probes.get(name)
