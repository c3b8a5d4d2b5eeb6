"""The admin pages send a bounded number of SQL statements: the same for 5 rows as for
500 (counted as tests/webapp/test_statement_counts.py counts them)."""

from __future__ import annotations

from pathlib import Path

import pytest
from fastapi import FastAPI
from sqlalchemy import insert

from quill.identity.models import User
from quill.settings import Settings
from tests.conftest import make_settings
from tests.helpers import make_user, runtime_of
from tests.webapp.support import page_statements, signed_in


@pytest.fixture
def settings(database_url: str, tmp_path: Path) -> Settings:
    # No periodic audit checkpoint: its read of the chain head would land in a count.
    return make_settings(database_url, tmp_path, audit_checkpoint_seconds=3600)



async def _users(app: FastAPI, prefix: str, count: int) -> None:
    now = runtime_of(app).clock.now()
    async with runtime_of(app).session_factory() as db, db.begin():
        await db.execute(insert(User), [
            {"username": f"{prefix}{n}", "username_key": f"{prefix}{n}",
             "email": f"{prefix}{n}@example.org", "full_name": f"Person {n}",
             "password_hash": "x", "system_permissions": "staff",
             "base_profession": "registered_nurse", "additional_competencies": [],
             "removed_competencies": [], "totp_enabled": False, "is_active": True,
             "created_at": now, "updated_at": now} for n in range(count)])


async def test_user_list_and_audit_cost_the_same_for_5_or_500_rows(app: FastAPI) -> None:
    await make_user(app, "boss", level="admin", profession="system_administrator")
    await _users(app, "few", 5)
    async with signed_in(app, "boss") as http:
        small = [len(await page_statements(app, http, path)) for path in ("/admin/users?q=few",
                                                            "/admin/audit")]
        await _users(app, "many", 500)
        for _ in range(250):  # 250 more audit entries (each look records one)
            await http.get("/admin/audit?user=boss")
        large = [len(await page_statements(app, http, path)) for path in ("/admin/users?q=many",
                                                            "/admin/audit")]
    assert small == large, (small, large)
    assert max(large) <= 12, large
