"""Users administration rules. Nothing here commits: the request owns the transaction."""

from __future__ import annotations

from dataclasses import dataclass

from sqlalchemy import select
from sqlalchemy.exc import IntegrityError
from sqlalchemy.ext.asyncio import AsyncSession

from quill.access.policy import ensure_can_see_patient
from quill.access.service import CompetencyChange, apply_change, require_level, validate_change
from quill.audit.service import Auditor
from quill.auth.passwords import PasswordHasher
from quill.auth.sessions import revoke_user_sessions
from quill.clock import Clock
from quill.db.keyset import decode_cursor, next_cursor
from quill.errors import Conflict, Forbidden, Invalid, NotFound
from quill.fhir.port import FhirStore, existing_patient
from quill.identity.caller import Caller
from quill.identity.levels import PermissionLevel, ensure_may_manage, ensure_may_set_level
from quill.identity.models import User
from quill.users import repository
from quill.users.schemas import UserCreate, UserUpdate

MIN_PASSWORD_LENGTH = 8


def check_password(password: str) -> None:
    if len(password) < MIN_PASSWORD_LENGTH:
        raise Invalid("Password too short")


def _level_of(user: User) -> PermissionLevel:
    return require_level(user.system_permissions)


def _change_of(body: UserCreate | UserUpdate) -> CompetencyChange:
    """The body's competency fields as a change, validated before any permission check."""
    change = CompetencyChange(body.base_profession, body.additional_competencies,
                              body.removed_competencies)
    validate_change(change)
    return change


def _activity_change(user: User, is_active: bool | None, *, is_self: bool) -> bool:
    """Whether the body changes the account's active flag; nobody switches their own."""
    if is_active is None or is_active == user.is_active:
        return False
    if is_self:
        raise Forbidden("You cannot deactivate or reactivate your own account")
    return True


@dataclass(frozen=True)
class UserPage:
    users: list[User]
    next_cursor: str | None


@dataclass
class UserService:
    """Creating, changing, listing and linking user accounts for a signed-in caller."""

    db: AsyncSession
    caller: Caller
    auditor: Auditor
    clock: Clock
    passwords: PasswordHasher
    fhir: FhirStore

    async def create_user(self, body: UserCreate) -> User:
        level = require_level(body.system_permissions)
        change = _change_of(body)
        check_password(body.password)
        ensure_may_set_level(self.caller.level, level)
        email = str(body.email).lower()
        username = (body.username or email).strip()
        if not username or len(username) > 150:
            raise Invalid("Invalid username")
        await self._ensure_unique(username=username, email=email)
        now = self.clock.now()
        user = User(
            username=username, username_key=username.lower(), email=email,
            full_name=body.name.strip(), password_hash=await self.passwords.hash(body.password),
            system_permissions=level.value, base_profession="patient",
            additional_competencies=[], removed_competencies=[], totp_enabled=False,
            is_active=True, created_at=now, updated_at=now,
        )
        self.db.add(user)
        await self._flush_unique()
        apply_change(self.caller.user, user, change)
        await self.db.flush()
        await self.auditor.record("user.create", "User", str(user.id))
        return user

    async def get_user(self, user_id: int) -> User:
        user = await self.db.get(User, user_id)
        if user is None:
            raise NotFound("User not found")
        return user

    async def update_user(self, user_id: int, body: UserUpdate) -> User:
        new_level = (require_level(body.system_permissions)
                     if body.system_permissions is not None else None)
        change = _change_of(body)
        if body.password is not None:
            check_password(body.password)
        user = await self.get_user(user_id)
        current = _level_of(user)
        is_self = user.id == self.caller.user_id
        if not is_self:
            ensure_may_manage(self.caller.level, current)
        if new_level is not None:
            ensure_may_set_level(self.caller.level, new_level, current=current, is_self=is_self)
        activity_changed = _activity_change(user, body.is_active, is_self=is_self)
        competencies_changed = apply_change(self.caller.user, user, change)
        password_changed = await self._apply_identity(user, body)
        if new_level is not None:
            user.system_permissions = new_level.value
        if activity_changed:
            user.is_active = bool(body.is_active)
        user.updated_at = self.clock.now()
        await self._flush_unique()
        if (password_changed and not is_self) or (activity_changed and not user.is_active):
            # A password set by an admin, or a deactivation, ends the user's sessions; the
            # commit also moves the caller cache's generation, so every worker drops them.
            await revoke_user_sessions(self.db, user.id, self.clock.now())
        level_changed = new_level is not None and new_level is not current
        await self._audit_update(user, level_changed=level_changed,
                                 competencies_changed=competencies_changed)
        if activity_changed:
            action = "user.reactivate" if user.is_active else "user.deactivate"
            await self.auditor.record(action, "User", str(user.id))
        return user

    async def list_users(self, *, patient_id: str | None, permission_level: str | None,
                         limit: int, cursor: str | None, q: str | None = None) -> UserPage:
        """Admins filter by level; a patient filter needs the caller to see that patient.
        ``q`` narrows to usernames or e-mails starting with it, or names containing it."""
        minimum = None
        if permission_level is not None:
            if not self.caller.is_admin:
                raise Forbidden("Admin access required")
            minimum = require_level(permission_level)
        after_id = decode_cursor(cursor)
        if patient_id is not None:
            await ensure_can_see_patient(self.db, self.caller, patient_id)
        users = await repository.list_users(self.db, self.caller, patient_id=patient_id,
                                            minimum=minimum, after_id=after_id, limit=limit,
                                            q=q)
        return UserPage(users=users[:limit], next_cursor=next_cursor([u.id for u in users], limit))

    async def link_patient(self, user_id: int, fhir_patient_id: str) -> User:
        user = await self.get_user(user_id)
        if user.id != self.caller.user_id:
            ensure_may_manage(self.caller.level, _level_of(user))
        await existing_patient(self.fhir, fhir_patient_id)
        holder = (await self.db.execute(
            select(User.id).where(User.fhir_patient_id == fhir_patient_id)
        )).scalars().first()
        if holder is not None and holder != user.id:
            raise Conflict("Patient already linked to another user")
        if user.fhir_patient_id != fhir_patient_id:
            user.fhir_patient_id = fhir_patient_id
            try:
                async with self.db.begin_nested():
                    await self.db.flush()
            except IntegrityError as exc:
                raise Conflict("Patient already linked to another user") from exc
            await self.auditor.record("user.link_patient", "User", str(user.id),
                                      patient_id=fhir_patient_id)
        return user

    async def _ensure_unique(self, *, username: str | None, email: str | None,
                             except_id: int | None = None) -> None:
        """Usernames compare case-insensitively; e-mail addresses are stored lower-cased."""
        if username is not None:
            query = select(User.id).where(User.username_key == username.lower())
            found = (await self.db.execute(query)).scalars().first()
            if found is not None and found != except_id:
                raise Invalid("Username already exists")
        if email is not None:
            query = select(User.id).where(User.email == email)
            found = (await self.db.execute(query)).scalars().first()
            if found is not None and found != except_id:
                raise Invalid("Email already exists")

    async def _flush_unique(self) -> None:
        """A concurrent insert can still win the race; answer it as the duplicate it is."""
        try:
            async with self.db.begin_nested():
                await self.db.flush()
        except IntegrityError as exc:
            raise Invalid("Username or email already exists") from exc

    async def _apply_identity(self, user: User, body: UserUpdate) -> bool:
        """Name, username, email and password; returns whether the password changed."""
        email = str(body.email).lower() if body.email is not None else None
        username = body.username.strip() if body.username is not None else None
        if username == "":
            raise Invalid("Invalid username")
        await self._ensure_unique(username=username, email=email, except_id=user.id)
        if body.name is not None:
            user.full_name = body.name.strip()
        if username is not None:
            user.username, user.username_key = username, username.lower()
        if email is not None:
            user.email = email
        if body.password is None:
            return False
        user.password_hash = await self.passwords.hash(body.password)
        return True

    async def _audit_update(self, user: User, *, level_changed: bool,
                            competencies_changed: bool) -> None:
        await self.auditor.record("user.update", "User", str(user.id))
        if level_changed:
            await self.auditor.record("user.level_change", "User", str(user.id))
        if competencies_changed:
            await self.auditor.record("user.competencies_change", "User", str(user.id))
