"""Users administration rules. Callers are passed explicitly; nothing here commits."""

from __future__ import annotations

from sqlalchemy import select
from sqlalchemy.exc import IntegrityError
from sqlalchemy.ext.asyncio import AsyncSession

from quill.access.service import CompetencyChange, apply_change, require_level, validate_change
from quill.audit.service import Auditor
from quill.auth.sessions import revoke_user_sessions
from quill.errors import Conflict, Invalid, NotFound
from quill.fhir.port import FhirStore, existing_patient
from quill.identity.caller import Caller
from quill.identity.levels import PermissionLevel, ensure_may_manage, ensure_may_set_level
from quill.identity.models import User
from quill.runtime import Runtime
from quill.users.schemas import UserCreate, UserUpdate

MIN_PASSWORD_LENGTH = 8


def check_password(password: str) -> None:
    if len(password) < MIN_PASSWORD_LENGTH:
        raise Invalid("Password too short")


async def ensure_unique(
    db: AsyncSession, *, username: str | None, email: str | None, except_id: int | None = None
) -> None:
    """Usernames compare case-insensitively; e-mail addresses are stored lower-cased."""
    if username is not None:
        query = select(User.id).where(User.username_key == username.lower())
        found = (await db.execute(query)).scalars().first()
        if found is not None and found != except_id:
            raise Invalid("Username already exists")
    if email is not None:
        found = (await db.execute(select(User.id).where(User.email == email))).scalars().first()
        if found is not None and found != except_id:
            raise Invalid("Email already exists")


async def _flush_unique(db: AsyncSession) -> None:
    """A concurrent insert can still win the race; answer it as the duplicate it is."""
    try:
        async with db.begin_nested():
            await db.flush()
    except IntegrityError as exc:
        raise Invalid("Username or email already exists") from exc


async def create_user(
    db: AsyncSession, runtime: Runtime, actor: Caller, body: UserCreate, auditor: Auditor
) -> User:
    level = require_level(body.system_permissions)
    change = CompetencyChange(body.base_profession, body.additional_competencies,
                              body.removed_competencies)
    validate_change(change)
    check_password(body.password)
    ensure_may_set_level(actor.level, level)
    email = str(body.email).lower()
    username = (body.username or email).strip()
    if not username or len(username) > 150:
        raise Invalid("Invalid username")
    await ensure_unique(db, username=username, email=email)
    now = runtime.clock.now()
    user = User(
        username=username, username_key=username.lower(), email=email,
        full_name=body.name.strip(), password_hash=await runtime.passwords.hash(body.password),
        system_permissions=level.value, base_profession="patient",
        additional_competencies=[], removed_competencies=[], totp_enabled=False,
        is_active=True, created_at=now, updated_at=now,
    )
    db.add(user)
    await _flush_unique(db)
    apply_change(actor.user, user, change)
    await db.flush()
    await auditor.record("user.create", "User", str(user.id))
    return user


async def get_user(db: AsyncSession, user_id: int) -> User:
    user = await db.get(User, user_id)
    if user is None:
        raise NotFound("User not found")
    return user


async def _apply_identity(db: AsyncSession, runtime: Runtime, user: User,
                          body: UserUpdate) -> bool:
    """Name, username, email and password; returns whether the password changed."""
    email = str(body.email).lower() if body.email is not None else None
    username = body.username.strip() if body.username is not None else None
    if username == "":
        raise Invalid("Invalid username")
    await ensure_unique(db, username=username, email=email, except_id=user.id)
    if body.name is not None:
        user.full_name = body.name.strip()
    if username is not None:
        user.username, user.username_key = username, username.lower()
    if email is not None:
        user.email = email
    if body.password is None:
        return False
    user.password_hash = await runtime.passwords.hash(body.password)
    return True


async def update_user(
    db: AsyncSession, runtime: Runtime, actor: Caller, user_id: int, body: UserUpdate,
    auditor: Auditor,
) -> User:
    new_level = (require_level(body.system_permissions)
                 if body.system_permissions is not None else None)
    change = CompetencyChange(body.base_profession, body.additional_competencies,
                              body.removed_competencies)
    validate_change(change)
    if body.password is not None:
        check_password(body.password)
    user = await get_user(db, user_id)
    current = _level_of(user)
    is_self = user.id == actor.user_id
    if not is_self:
        ensure_may_manage(actor.level, current)
    if new_level is not None:
        ensure_may_set_level(actor.level, new_level, current=current, is_self=is_self)
    competencies_changed = apply_change(actor.user, user, change)
    password_changed = await _apply_identity(db, runtime, user, body)
    level_changed = new_level is not None and new_level is not current
    if new_level is not None:
        user.system_permissions = new_level.value
    user.updated_at = runtime.clock.now()
    await _flush_unique(db)
    if password_changed and not is_self:
        # A password set by an admin ends the user's existing sessions.
        await revoke_user_sessions(db, user.id, runtime.clock.now())
    await auditor.record("user.update", "User", str(user.id))
    if level_changed:
        await auditor.record("user.level_change", "User", str(user.id))
    if competencies_changed:
        await auditor.record("user.competencies_change", "User", str(user.id))
    return user


def _level_of(user: User) -> PermissionLevel:
    return require_level(user.system_permissions)


async def link_patient(
    db: AsyncSession, actor: Caller, user_id: int, fhir_patient_id: str, auditor: Auditor,
    fhir: FhirStore,
) -> User:
    user = await get_user(db, user_id)
    if user.id != actor.user_id:
        ensure_may_manage(actor.level, _level_of(user))
    await existing_patient(fhir, fhir_patient_id)
    holder = (await db.execute(
        select(User.id).where(User.fhir_patient_id == fhir_patient_id)
    )).scalars().first()
    if holder is not None and holder != user.id:
        raise Conflict("Patient already linked to another user")
    if user.fhir_patient_id != fhir_patient_id:
        user.fhir_patient_id = fhir_patient_id
        try:
            async with db.begin_nested():
                await db.flush()
        except IntegrityError as exc:
            raise Conflict("Patient already linked to another user") from exc
        await auditor.record("user.link_patient", "User", str(user.id),
                             patient_id=fhir_patient_id)
    return user

