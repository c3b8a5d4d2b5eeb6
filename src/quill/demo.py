"""Demo data for `quill seed-demo`. Each domain adds its own idempotent seeding step."""

from __future__ import annotations

from quill.access.demo import seed_access
from quill.app import create_app
from quill.messaging.demo import seed_threads
from quill.patients.demo import seed_patients
from quill.settings import Settings


async def seed(settings: Settings) -> list[str]:
    """Run every seeding step inside one transaction; returns lines to print."""
    app = create_app(settings)
    runtime = app.state.runtime
    lines: list[str] = []
    try:
        async with runtime.session_factory() as db, db.begin():
            lines += await seed_access(db, runtime)
            lines += await seed_patients(db, runtime)
            lines += await seed_threads(db, runtime)
    finally:
        await runtime.engine.dispose()
    return lines
