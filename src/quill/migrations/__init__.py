"""Alembic migrations, the metadata of every table, and running them (CLI, tests, bench)."""
