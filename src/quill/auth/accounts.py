"""Creating accounts (self-registration and the ``quill create-user`` command), and the
organisations a new account may join."""

from __future__ import annotations

from dataclasses import dataclass

from sqlalchemy import select
from sqlalchemy.exc import IntegrityError
from sqlalchemy.ext.asyncio import AsyncSession

from quill.access.models import Organisation, StaffMembership
from quill.audit.service import Auditor
from quill.auth.password_policy import check_new_password
from quill.auth.passwords import PasswordHasher
from quill.clock import Clock
from quill.errors import Invalid
from quill.identity.models import User


@dataclass(frozen=True)
class NewAccount:
    username: str
    email: str
    password: str
    full_name: str = ""
    level: str = "patient"
    profession: str = "patient"


async def find_by_username(db: AsyncSession, username: str) -> User | None:
    key = username.strip().lower()
    return (await db.execute(select(User).where(User.username_key == key))).scalar_one_or_none()


async def find_by_email(db: AsyncSession, email: str) -> User | None:
    address = email.strip().lower()
    return (await db.execute(select(User).where(User.email == address))).scalar_one_or_none()


async def _ensure_unique(db: AsyncSession, username: str, email: str) -> None:
    if await find_by_username(db, username) is not None:
        raise Invalid("Username already exists")
    if await find_by_email(db, email) is not None:
        raise Invalid("Email already exists")


async def create_account(db: AsyncSession, passwords: PasswordHasher, clock: Clock,
                         new: NewAccount) -> User:
    """Check the password rules and uniqueness, hash off the loop, insert the user.

    Not audited here: each caller records the entry its own path calls for.
    """
    check_new_password(new.password)
    username, email = new.username.strip(), new.email.strip().lower()
    # Hash before the first query: on SQLite that query opens the write transaction,
    # which should not stay open for the length of a hash.
    password_hash = await passwords.hash(new.password)
    await _ensure_unique(db, username, email)
    now = clock.now()
    user = User(
        username=username, username_key=username.lower(), email=email,
        full_name=new.full_name.strip(), password_hash=password_hash,
        system_permissions=new.level, base_profession=new.profession,
        additional_competencies=[], removed_competencies=[], totp_enabled=False,
        is_active=True, created_at=now, updated_at=now,
    )
    try:
        async with db.begin_nested():
            db.add(user)
            await db.flush()
    except IntegrityError:
        # Someone registered the same name between our check and the insert.
        await _ensure_unique(db, username, email)
        raise Invalid("Username already exists") from None
    return user


@dataclass
class AccountService:
    db: AsyncSession
    auditor: Auditor
    passwords: PasswordHasher
    clock: Clock

    async def register(self, new: NewAccount, organisation_id: int | None) -> User:
        """Self-registration: always a patient-level account, optionally in one
        organisation."""
        user = await create_account(self.db, self.passwords, self.clock, new)
        if organisation_id is not None:
            if await self.db.get(Organisation, organisation_id) is None:
                raise Invalid("Organisation not found")
            self.db.add(StaffMembership(organisation_id=organisation_id, user_id=user.id,
                                        is_primary=True, created_at=self.clock.now()))
            await self.db.flush()
        await self.auditor.record("user.register", "User", str(user.id), actor_id=user.id)
        return user

    async def create(self, new: NewAccount) -> User:
        """An account made by an operator (``quill create-user``), at any level."""
        user = await create_account(self.db, self.passwords, self.clock, new)
        await self.auditor.record("user.create", "User", str(user.id))
        return user

    async def joinable_organisations(self) -> list[Organisation]:
        """Every organisation, for the registration form to offer."""
        rows = await self.db.execute(
            select(Organisation).order_by(Organisation.name, Organisation.id))
        return list(rows.scalars().all())
