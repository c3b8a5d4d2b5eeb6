"""Demo data for `quill seed-demo`: organisations, users, patients, letters and threads.

It lives outside the domain packages and calls their services like any other adapter.
Every step is idempotent.
"""

from __future__ import annotations

from quill.demo.access import seed_access
from quill.demo.messaging import seed_threads
from quill.demo.patients import seed_patients
from quill.runtime import runtime_scope
from quill.settings import Settings


async def seed(settings: Settings) -> list[str]:
    """Run every seeding step inside one transaction; returns lines to print."""
    lines: list[str] = []
    async with runtime_scope(settings) as runtime, \
            runtime.session_factory() as db, db.begin():
        lines += await seed_access(db, runtime)
        lines += await seed_patients(db, runtime)
        lines += await seed_threads(db, runtime)
    return lines
