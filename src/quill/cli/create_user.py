"""``quill create-user``: make an account from the command line."""

from __future__ import annotations

import re

from quill.access.cbac import load_catalogue
from quill.audit.service import Auditor
from quill.auth.accounts import AccountService, NewAccount
from quill.errors import QuillError
from quill.identity.levels import EXTERNAL_LEVELS, PermissionLevel, parse_level
from quill.runtime import runtime_scope
from quill.settings import Settings

EMAIL_PATTERN = re.compile(r"^[^@\s]+@[^@\s]+\.[^@\s]+$")
USERNAME_PATTERN = re.compile(r"^[A-Za-z0-9._@+-]{1,150}$")


class CommandError(Exception):
    """A problem to report on one line, with exit code 1."""


def _account(username: str, email: str, permission: str, profession: str | None,
             name: str, password: str) -> NewAccount:
    level = parse_level(permission)
    if level is None:
        choices = ", ".join(item.value for item in PermissionLevel)
        raise CommandError(f"unknown permission level {permission!r} (choose from {choices})")
    if not USERNAME_PATTERN.match(username):
        raise CommandError("username may use letters, digits and . _ @ + - (at most 150)")
    if not EMAIL_PATTERN.match(email) or len(email) > 320:
        raise CommandError(f"not an email address: {email!r}")
    chosen = profession or (level.value if level in EXTERNAL_LEVELS else "patient")
    if chosen not in load_catalogue().professions:
        raise CommandError(f"unknown profession {chosen!r}")
    return NewAccount(username=username, email=email, password=password, full_name=name,
                      level=level.value, profession=chosen)


async def create_user(settings: Settings, username: str, email: str, permission: str,
                      profession: str | None, name: str, password: str) -> str:
    """Create the user; return the line to print. Raises CommandError on any refusal."""
    new = _account(username, email, permission, profession, name, password)
    try:
        async with runtime_scope(settings) as runtime, \
                runtime.session_factory() as db, db.begin():
            accounts = AccountService(db=db, auditor=Auditor(db, runtime.clock),
                                      passwords=runtime.passwords, clock=runtime.clock)
            user = await accounts.create(new)
            return (f"created user {user.username} "
                    f"(id {user.id}, level {user.system_permissions})")
    except QuillError as exc:
        raise CommandError(str(exc.detail)) from exc
