"""Running Alembic migrations programmatically, from the CLI and from tests."""

from __future__ import annotations

import asyncio
from pathlib import Path
from typing import Any

from alembic import command
from alembic.config import Config
from sqlalchemy.engine import Connection

MIGRATIONS_DIR = Path(__file__).parent


def alembic_config(database_url: str) -> Config:
    config = Config()
    config.set_main_option("script_location", str(MIGRATIONS_DIR))
    config.attributes["database_url"] = database_url
    return config


def upgrade(database_url: str, revision: str = "head") -> None:
    """Apply migrations. Runs its own event loop, so call it outside one (or in a thread)."""
    command.upgrade(alembic_config(database_url), revision)


def downgrade(database_url: str, revision: str = "base") -> None:
    command.downgrade(alembic_config(database_url), revision)


def autogenerate(database_url: str, message: str, rev_id: str | None = None) -> None:
    command.revision(alembic_config(database_url), message=message, autogenerate=True,
                     rev_id=rev_id)


def _compare(connection: Connection) -> list[Any]:
    from alembic.autogenerate import compare_metadata
    from alembic.runtime.migration import MigrationContext

    from quill.migrations.options import compare_options

    options = compare_options()
    metadata = options.pop("target_metadata")
    context = MigrationContext.configure(connection, opts=options)
    return list(compare_metadata(context, metadata))


async def _pending(database_url: str) -> list[Any]:
    from quill.db.engine import make_engine

    engine = make_engine(database_url)
    try:
        async with engine.connect() as connection:
            return await connection.run_sync(_compare)
    finally:
        await engine.dispose()


def pending_model_changes(database_url: str) -> list[Any]:
    """The differences autogenerate would write; empty when migrations match the models."""
    return asyncio.run(_pending(database_url))
