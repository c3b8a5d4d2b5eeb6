"""Users administration routes (HTTP only; rules live in the service)."""

from __future__ import annotations

from typing import Annotated

from fastapi import Depends, Query, Request

from quill.auth.deps import AdminCaller, AuditorDep, CurrentCaller, StaffCaller
from quill.auth.passwords import PasswordHasher
from quill.db.keyset import DEFAULT_LIMIT
from quill.fhir.port import FHIR_ID_PATTERN
from quill.identity.models import User
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
from quill.users.service import UserService
from quill.web.deps import DbSession
from quill.web.keyset import CursorQuery, IdPath, LimitQuery
from quill.web.routing import api_router
from quill.web.wiring import platform_of, wiring_of

router = api_router("/users", tags=["users"])


async def get_service(request: Request, db: DbSession, caller: CurrentCaller,
                      auditor: AuditorDep) -> UserService:
    platform = platform_of(request)
    return UserService(db=db, caller=caller, auditor=auditor, clock=platform.clock,
                       passwords=wiring_of(request).get(PasswordHasher),
                       fhir=platform.fhir.store(db))


UserServiceDep = Annotated[UserService, Depends(get_service)]


def _saved(detail: str, user: User) -> UserSaved:
    return UserSaved(detail=detail, id=user.id, username=user.username, email=user.email,
                     is_active=user.is_active)


# Each route names its gate before the service, so the caller is resolved (and refused)
# first, exactly as when routes took the caller and the session themselves.
@router.post("", response_model=UserSaved)
async def create_user(body: UserCreate, caller: AdminCaller,
                      service: UserServiceDep) -> UserSaved:
    return _saved("created", await service.create_user(body))


@router.patch("/{user_id}", response_model=UserSaved)
async def update_user(user_id: IdPath, body: UserUpdate, caller: AdminCaller,
                      service: UserServiceDep) -> UserSaved:
    return _saved("updated", await service.update_user(user_id, body))


@router.get("", response_model=UserList)
async def list_users(
    caller: StaffCaller, service: UserServiceDep,
    patient_id: Annotated[str | None, Query(max_length=64, pattern=FHIR_ID_PATTERN)] = None,
    permission_level: Annotated[str | None, Query(max_length=32)] = None,
    limit: LimitQuery = DEFAULT_LIMIT, cursor: CursorQuery = None,
    q: Annotated[str | None, Query(max_length=150)] = None,
) -> UserList:
    page = await service.list_users(patient_id=patient_id, permission_level=permission_level,
                                    limit=limit, cursor=cursor, q=q)
    return UserList(
        users=[UserSummary(id=u.id, username=u.username, email=u.email,
                           system_permissions=u.system_permissions, is_active=u.is_active)
               for u in page.users],
        next_cursor=page.next_cursor,
    )


@router.get("/{user_id}", response_model=UserDetail)
async def get_user(user_id: IdPath, caller: AdminCaller,
                   service: UserServiceDep) -> UserDetail:
    user = await service.get_user(user_id)
    return UserDetail(
        id=user.id, username=user.username, email=user.email, name=user.full_name,
        base_profession=user.base_profession,
        additional_competencies=list(user.additional_competencies),
        removed_competencies=list(user.removed_competencies),
        system_permissions=user.system_permissions, is_active=user.is_active,
    )


@router.patch("/{user_id}/link-patient", response_model=LinkPatientOut)
async def link_patient(user_id: IdPath, body: LinkPatientIn, caller: AdminCaller,
                       service: UserServiceDep) -> LinkPatientOut:
    user = await service.link_patient(user_id, body.fhir_patient_id)
    return LinkPatientOut(user_id=user.id, fhir_patient_id=body.fhir_patient_id)
