"""Users administration routes (HTTP only; rules live in the service)."""

from __future__ import annotations

from typing import Annotated

from fastapi import Query

from quill.access.policy import ensure_can_see_patient
from quill.access.service import require_level
from quill.auth.deps import AdminCaller, AuditorDep, StaffCaller
from quill.db.keyset import DEFAULT_LIMIT, decode_cursor, next_cursor
from quill.errors import Forbidden
from quill.fhir.port import FHIR_ID_PATTERN
from quill.identity.models import User
from quill.users import repository, service
from quill.users.schemas import (
    LinkPatientIn,
    LinkPatientOut,
    UserCreate,
    UserDetail,
    UserList,
    UserSaved,
    UserSummary,
    UserUpdate,
)
from quill.web.deps import DbSession, RuntimeDep
from quill.web.keyset import CursorQuery, IdPath, LimitQuery
from quill.web.routing import api_router

router = api_router("/users", tags=["users"])


def _saved(detail: str, user: User) -> UserSaved:
    return UserSaved(detail=detail, id=user.id, username=user.username, email=user.email)


@router.post("", response_model=UserSaved)
async def create_user(body: UserCreate, caller: AdminCaller, db: DbSession,
                      runtime: RuntimeDep, auditor: AuditorDep) -> UserSaved:
    user = await service.create_user(db, runtime, caller, body, auditor)
    return _saved("created", user)


@router.patch("/{user_id}", response_model=UserSaved)
async def update_user(user_id: IdPath, body: UserUpdate, caller: AdminCaller, db: DbSession,
                      runtime: RuntimeDep, auditor: AuditorDep) -> UserSaved:
    user = await service.update_user(db, runtime, caller, user_id, body, auditor)
    return _saved("updated", user)


@router.get("", response_model=UserList)
async def list_users(
    caller: StaffCaller, db: DbSession,
    patient_id: Annotated[str | None, Query(pattern=FHIR_ID_PATTERN)] = None,
    permission_level: Annotated[str | None, Query(max_length=32)] = None,
    limit: LimitQuery = DEFAULT_LIMIT, cursor: CursorQuery = None,
) -> UserList:
    minimum = None
    if permission_level is not None:
        if not caller.is_admin:
            raise Forbidden("Admin access required")
        minimum = require_level(permission_level)
    after_id = decode_cursor(cursor)
    if patient_id is not None:
        await ensure_can_see_patient(db, caller, patient_id)
    users = await repository.list_users(db, caller, patient_id=patient_id, minimum=minimum,
                                        after_id=after_id, limit=limit)
    return UserList(
        users=[UserSummary(id=u.id, username=u.username, email=u.email,
                           system_permissions=u.system_permissions) for u in users[:limit]],
        next_cursor=next_cursor([u.id for u in users], limit),
    )


@router.get("/{user_id}", response_model=UserDetail)
async def get_user(user_id: IdPath, caller: AdminCaller, db: DbSession) -> UserDetail:
    user = await service.get_user(db, user_id)
    return UserDetail(
        id=user.id, username=user.username, email=user.email, name=user.full_name,
        base_profession=user.base_profession,
        additional_competencies=list(user.additional_competencies),
        removed_competencies=list(user.removed_competencies),
        system_permissions=user.system_permissions,
    )


@router.patch("/{user_id}/link-patient", response_model=LinkPatientOut)
async def link_patient(user_id: IdPath, body: LinkPatientIn, caller: AdminCaller, db: DbSession,
                       runtime: RuntimeDep, auditor: AuditorDep) -> LinkPatientOut:
    user = await service.link_patient(db, caller, user_id, body.fhir_patient_id, auditor,
                                      runtime.fhir.store(db))
    return LinkPatientOut(user_id=user.id, fhir_patient_id=body.fhir_patient_id)
