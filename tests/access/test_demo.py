"""`quill seed-demo`: the access step is idempotent and its passwords work."""

from __future__ import annotations

from pathlib import Path

from fastapi import FastAPI
from sqlalchemy import func, select
from typer.testing import CliRunner

from quill.access.models import (
    Organisation,
    OrganisationFeature,
    PatientMembership,
    StaffMembership,
)
from quill.cli import cli
from quill.demo import seed
from quill.demo.access import USERS
from quill.identity.models import User
from quill.settings import Settings
from tests.helpers import runtime_of

TABLES = (User, Organisation, StaffMembership, PatientMembership, OrganisationFeature)


async def _counts(app: FastAPI) -> dict[str, int]:
    async with runtime_of(app).session_factory() as db:
        return {model.__tablename__: int((await db.execute(
            select(func.count()).select_from(model))).scalar_one()) for model in TABLES}


async def test_seed_twice_gives_the_same_rows(app: FastAPI, settings: Settings) -> None:
    first = await seed(settings)
    counts = await _counts(app)
    second = await seed(settings)
    assert await _counts(app) == counts
    assert counts["users"] == len(USERS) + 1  # plus the demo relative (patients step)
    assert counts["organisations"] >= 4
    assert any(line.startswith("demo password (shown once): ") for line in first)
    assert not any("password" in line for line in second)
    async with runtime_of(app).session_factory() as db:
        kinds = set((await db.execute(select(Organisation.type))).scalars().all())
        levels = set((await db.execute(select(User.system_permissions))).scalars().all())
        professions = set((await db.execute(select(User.base_profession))).scalars().all())
        primaries = (await db.execute(select(StaffMembership.user_id, func.count()).where(
            StaffMembership.is_primary.is_(True)).group_by(StaffMembership.user_id))).all()
    assert len(kinds) >= 3
    assert {"admin", "staff", "patient"} <= levels
    assert {"receptionist", "consultant", "registered_nurse"} <= professions
    assert all(count == 1 for _, count in primaries)


async def test_seed_uses_the_configured_password(app: FastAPI, settings: Settings) -> None:
    configured = settings.model_copy(update={"demo_password": "demo password 123"})
    lines = await seed(configured)
    assert "demo password 123" not in "\n".join(lines)
    async with runtime_of(app).session_factory() as db:
        admin = (await db.execute(select(User).where(User.username == "demo.admin"))
                 ).scalar_one()
    assert await runtime_of(app).passwords.verify(admin.password_hash, "demo password 123")


def test_cli_seed_demo_runs_twice(tmp_path: Path) -> None:
    env = {"QUILL_DATABASE_URL": f"sqlite:///{tmp_path / 'demo.db'}",
           "QUILL_DATA_DIR": str(tmp_path), "QUILL_DEMO_PASSWORD": "demo password 123",
           "QUILL_ARGON2_MEMORY_KIB": "1024", "QUILL_ARGON2_TIME_COST": "1"}
    runner = CliRunner()
    first = runner.invoke(cli, ["seed-demo"], env=env)
    assert first.exit_code == 0, first.output
    assert "demo users created" in first.output
    second = runner.invoke(cli, ["seed-demo"], env=env)
    assert second.exit_code == 0, second.output
    assert "already present" in second.output
