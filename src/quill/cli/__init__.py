"""The ``quill`` console script."""

from __future__ import annotations

import asyncio
import logging
import sys
from pathlib import Path
from typing import Annotated

import typer
from pydantic import ValidationError

from quill.settings import Settings, UnsafeSettingsError

cli = typer.Typer(help="Quill clinical messaging and records backend.", no_args_is_help=True,
                  add_completion=False)
log = logging.getLogger("quill.cli")


def _settings() -> Settings:
    try:
        settings = Settings()
    except ValidationError as exc:
        # One line per refused setting, each naming it, as for unsafe production settings.
        for error in exc.errors():
            typer.echo(f"error: {error['msg'].removeprefix('Value error, ')}", err=True)
        raise typer.Exit(2) from exc
    try:
        settings.check_production_safety()
    except UnsafeSettingsError as exc:
        typer.echo(f"error: {exc}", err=True)
        raise typer.Exit(2) from exc
    return settings


def _migrate(settings: Settings) -> None:
    from quill.migrations.run import upgrade

    upgrade(settings.database_url)


@cli.command()
def migrate() -> None:
    """Apply database migrations."""
    settings = _settings()
    _migrate(settings)
    typer.echo("database is up to date")


@cli.command()
def serve(
    host: Annotated[str, typer.Option(help="Interface to bind.")] = "127.0.0.1",
    port: Annotated[int, typer.Option(help="Port to listen on.")] = 8000,
    workers: Annotated[int, typer.Option(min=1, help="Worker processes.")] = 1,
) -> None:
    """Migrate the database, then serve the API."""
    import uvicorn

    from quill.logging_setup import configure_logging, logging_config, resolve_log_format

    settings = _settings()
    log_format = resolve_log_format(settings.log_format, not settings.is_production)
    configure_logging(settings.log_level, log_format)
    _migrate(settings)
    settings.resolved_secret_key()  # generate the development secret once, before workers fork
    settings.resolved_audit_key()  # and the audit key, which every worker must share
    log.info("serving", extra={"host": host, "port": port, "workers": workers})
    # Each worker process applies the same logging configuration before it logs anything;
    # our own request line replaces uvicorn's access log.
    uvicorn.run("quill.asgi:app", factory=True, host=host, port=port, workers=workers,
                log_config=logging_config(settings.log_level, log_format), access_log=False,
                proxy_headers=False, server_header=False,
                timeout_graceful_shutdown=settings.shutdown_grace_seconds)


@cli.command("verify-audit")
def verify_audit(
    checkpoints: Annotated[list[Path] | None, typer.Option(
        "--checkpoints", help="A checkpoint file (repeatable); default "
        "QUILL_AUDIT_CHECKPOINT_PATH.")] = None,
) -> None:
    """Verify the keyed audit chain against its checkpoints; exit 1 naming the first bad
    entry."""
    from quill.cli.verify_audit import verify_audit as run

    settings = _settings()
    code, lines = asyncio.run(run(settings, checkpoints or []))
    for line in lines:
        typer.echo(line, err=code == 2 or line.startswith("note:"))
    raise typer.Exit(code)


@cli.command("record-restore")
def record_restore(
    checkpoints: Annotated[list[Path] | None, typer.Option(
        "--checkpoints", help="A checkpoint file (repeatable); the record is appended to "
        "each. Default QUILL_AUDIT_CHECKPOINT_PATH.")] = None,
) -> None:
    """After restoring a backup (with Quill stopped): verify the restored chain up to its
    end, then append a keyed restore record so verify-audit reports the lost entries
    instead of a cut tail."""
    from quill.cli.verify_audit import record_restore as run
    from quill.clock import SystemClock

    settings = _settings()
    code, lines = asyncio.run(run(settings, checkpoints or [], SystemClock()))
    for line in lines:
        typer.echo(line, err=code != 0 or line.startswith("note:"))
    raise typer.Exit(code)


@cli.command("seed-demo")
def seed_demo() -> None:
    """Load demo organisations, users, patients, letters and threads (idempotent)."""
    from quill.demo import seed

    settings = _settings()
    _migrate(settings)
    for line in asyncio.run(seed(settings)):
        typer.echo(line)


@cli.command("rebuild-projection")
def rebuild_projection_command() -> None:
    """Rebuild the messaging tables from the FHIR store (idempotent; safe while serving)."""
    from quill.messaging.rebuild import RebuildReport, rebuild_projection
    from quill.runtime import runtime_scope

    settings = _settings()
    _migrate(settings)

    async def run() -> RebuildReport:
        async with runtime_scope(settings) as runtime, \
                runtime.session_factory() as db, db.begin():
            return await rebuild_projection(db, runtime.fhir.store(db))

    report = asyncio.run(run())
    typer.echo(f"projection rebuilt: {report.conversations} conversations, "
               f"{report.messages} messages ({report.skipped} Communications skipped)")


@cli.command("upload-template")
def upload_template_command() -> None:
    """Upload the letter template (quill_letter.v1) to QUILL_EHRBASE_URL."""
    from quill.errors import QuillError
    from quill.openehr.http import make_client
    from quill.openehr.template_upload import letter_template, upload_template

    settings = _settings()
    if not settings.ehrbase_url:
        typer.echo("error: QUILL_EHRBASE_URL is not set (the embedded store needs no template)",
                   err=True)
        raise typer.Exit(1)

    async def run() -> str:
        async with make_client(settings) as client:
            return await upload_template(client, letter_template())

    try:
        outcome = asyncio.run(run())
    except QuillError as exc:
        typer.echo(f"error: {exc.detail}", err=True)
        raise typer.Exit(1) from exc
    typer.echo(f"template quill_letter.v1: {outcome}")


def _read_password(from_stdin: bool) -> str:
    if from_stdin:
        return sys.stdin.readline().rstrip("\r\n")
    if sys.stdin.isatty():
        value: str = typer.prompt("Password", hide_input=True, confirmation_prompt=True)
        return value
    raise ValueError("no password given: use --password-stdin or run in a terminal")


@cli.command("create-user")
def create_user(
    username: Annotated[str, typer.Argument(help="Login name.")],
    email: Annotated[str, typer.Option(help="Email address (required).")] = "",
    permission: Annotated[str, typer.Option(
        help="patient, external_hcp, patient_advocate, staff, admin or superadmin.")] = "",
    profession: Annotated[str | None, typer.Option(help="Base profession id.")] = None,
    name: Annotated[str, typer.Option(help="Full name.")] = "",
    password_stdin: Annotated[bool, typer.Option(
        "--password-stdin", help="Read the password from the first line of stdin.")] = False,
) -> None:
    """Create a user; prompts for the password when stdin is a terminal."""
    from quill.cli.create_user import CommandError
    from quill.cli.create_user import create_user as run

    settings = _settings()

    def fail(message: str) -> typer.Exit:
        typer.echo(f"error: {message}", err=True)
        return typer.Exit(1)

    if not email:
        raise fail("--email is required")
    if not permission:
        raise fail("--permission is required")
    try:
        password = _read_password(password_stdin)
        _migrate(settings)
        line = asyncio.run(run(settings, username, email, permission, profession, name,
                               password))
    except (CommandError, ValueError) as exc:
        raise fail(str(exc)) from exc
    except Exception as exc:
        log.debug("create-user failed", exc_info=True)
        raise fail(f"could not create the user ({type(exc).__name__})") from exc
    typer.echo(line)


def main() -> None:
    try:
        cli()
    except UnsafeSettingsError as exc:
        print(f"error: {exc}", file=sys.stderr)
        sys.exit(2)
