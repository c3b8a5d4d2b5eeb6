"""``quill create-user``: exit 0 on success, 1 with a one-line error otherwise."""

from __future__ import annotations

import asyncio
import os
import pty
import select
import subprocess
import sys
import termios
import time
from pathlib import Path

import httpx
from fastapi import FastAPI
from sqlalchemy import select as sql_select
from typer.testing import CliRunner, Result

from quill.cli import cli
from quill.identity.models import User
from tests.auth.support import login
from tests.helpers import runtime_of

PASSWORD = "a long passphrase"


def _env(database_url: str, data_dir: Path) -> dict[str, str]:
    return {
        "QUILL_ENV": "development", "QUILL_DATABASE_URL": database_url,
        "QUILL_DATA_DIR": str(data_dir),
        "QUILL_SECRET_KEY": "cli-test-secret-key-0123456789-abcdef",
        "QUILL_REDIS_URL": "", "QUILL_SMTP_URL": "",
        "QUILL_ARGON2_MEMORY_KIB": "1024", "QUILL_ARGON2_TIME_COST": "1",
    }


async def _invoke(env: dict[str, str], *args: str, stdin: str | None = None) -> Result:
    runner = CliRunner()
    # In a thread: the command runs its own event loop, as it does from a shell.
    return await asyncio.to_thread(runner.invoke, cli, ["create-user", *args], input=stdin,
                                   env=env)


async def test_create_user_then_login(
    app: FastAPI, client: httpx.AsyncClient, database_url: str, tmp_path: Path
) -> None:
    env = _env(database_url, tmp_path)
    result = await _invoke(env, "Dr.Who", "--email", "Who@Example.org", "--permission", "staff",
                           "--profession", "consultant", "--name", "The Doctor",
                           "--password-stdin", stdin=PASSWORD + "\n")
    assert result.exit_code == 0, result.output
    assert "created user Dr.Who" in result.stdout
    runtime = runtime_of(app)
    async with runtime.session_factory() as db:
        user = (await db.execute(sql_select(User))).scalar_one()
    assert (user.email, user.full_name, user.system_permissions, user.base_profession) == (
        "who@example.org", "The Doctor", "staff", "consultant")
    assert (await login(client, "dr.who", PASSWORD)).status_code == 200


async def test_create_user_errors_are_one_line(
    app: FastAPI, database_url: str, tmp_path: Path
) -> None:
    env = _env(database_url, tmp_path)
    ok = await _invoke(env, "amy", "--email", "amy@example.org", "--permission", "patient",
                       "--password-stdin", stdin=PASSWORD + "\n")
    assert ok.exit_code == 0, ok.output
    cases = [
        (["amy", "--email", "x@example.org", "--permission", "patient"], PASSWORD,
         "Username already exists"),
        (["rory", "--email", "AMY@example.org", "--permission", "patient"], PASSWORD,
         "Email already exists"),
        (["rory", "--email", "r@example.org", "--permission", "wizard"], PASSWORD,
         "unknown permission level"),
        (["rory", "--email", "r@example.org", "--permission", "staff", "--profession",
          "astronaut"], PASSWORD, "unknown profession"),
        (["rory", "--email", "r@example.org", "--permission", "staff"], "short",
         "Password too short"),
        (["rory", "--permission", "staff"], PASSWORD, "--email is required"),
    ]
    for args, password, message in cases:
        result = await _invoke(env, *args, "--password-stdin", stdin=password + "\n")
        assert result.exit_code == 1, args
        assert message in result.stderr
        assert len(result.stderr.strip().splitlines()) == 1
    no_password = await _invoke(env, "rory", "--email", "r@example.org", "--permission", "staff",
                                stdin="")
    assert no_password.exit_code == 1
    assert "--password-stdin" in no_password.stderr


def _read_until(fd: int, marker: bytes, deadline: float) -> bytes:
    seen = b""
    while marker not in seen and time.monotonic() < deadline:
        ready, _, _ = select.select([fd], [], [], 0.2)
        if ready:
            try:
                chunk = os.read(fd, 1024)
            except OSError:
                break
            if not chunk:
                break
            seen += chunk
    return seen


def _type_hidden(fd: int, text: bytes, deadline: float) -> None:
    """Type once the prompt has switched echo off (it flushes anything typed before)."""
    while termios.tcgetattr(fd)[3] & termios.ECHO and time.monotonic() < deadline:
        time.sleep(0.02)
    os.write(fd, text)


async def test_prompts_for_the_password_on_a_terminal(
    app: FastAPI, client: httpx.AsyncClient, database_url: str, tmp_path: Path
) -> None:
    def run() -> tuple[int, bytes]:
        master, slave = pty.openpty()
        env = {**os.environ, **_env(database_url, tmp_path)}
        # A new session has no controlling terminal, so the prompt reads the pty we hold.
        process = subprocess.Popen(
            [sys.executable, "-m", "quill", "create-user", "clara", "--email",
             "clara@example.org", "--permission", "patient"],
            stdin=slave, stdout=slave, stderr=slave, env=env, start_new_session=True)
        os.close(slave)
        deadline = time.monotonic() + 30
        output = _read_until(master, b"Password", deadline)
        _type_hidden(master, PASSWORD.encode() + b"\n", deadline)
        output += _read_until(master, b"Repeat", deadline)
        _type_hidden(master, PASSWORD.encode() + b"\n", deadline)
        output += _read_until(master, b"created user", deadline)
        try:
            code = process.wait(timeout=max(1.0, deadline - time.monotonic()))
        except subprocess.TimeoutExpired:
            process.kill()
            process.wait()
            code = -1
        os.close(master)
        return code, output

    code, output = await asyncio.to_thread(run)
    assert code == 0, output
    assert PASSWORD.encode() not in output  # typed input is not echoed
    assert (await login(client, "clara", PASSWORD)).status_code == 200
