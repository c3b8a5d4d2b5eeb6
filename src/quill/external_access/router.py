"""External access routes: invite, accept (public), revoke, list. The services check who may
manage access and audit."""

from __future__ import annotations

from typing import Annotated

from fastapi import BackgroundTasks, Depends, Path, Request

from quill.auth.deps import AuditorDep, CurrentCaller, resolve_caller
from quill.auth.passwords import PasswordHasher
from quill.email.port import send_after_response
from quill.errors import Unauthenticated
from quill.external_access.acceptance import InviteAcceptanceService
from quill.external_access.schemas import (
    Accepted,
    AcceptIn,
    GrantList,
    GrantOut,
    InviteIn,
    InviteOut,
    Revoked,
)
from quill.external_access.service import ExternalAccessService
from quill.identity.caller import Caller
from quill.web.deps import DbSession, RequestAuditorDep
from quill.web.keyset import IdPath
from quill.web.routing import api_router
from quill.web.wiring import platform_of, wiring_of

router = api_router(tags=["external access"])

PatientId = Annotated[str, Path(min_length=1, max_length=64)]


async def get_service(request: Request, db: DbSession, caller: CurrentCaller,
                      auditor: AuditorDep) -> ExternalAccessService:
    platform = platform_of(request)
    return ExternalAccessService(db=db, caller=caller, auditor=auditor, clock=platform.clock,
                                 fhir=platform.fhir.store(db), mailer=platform.mailer,
                                 public_base_url=platform.settings.public_base_url)


async def get_acceptance(request: Request, db: DbSession, auditor: RequestAuditorDep
                         ) -> InviteAcceptanceService:
    return InviteAcceptanceService(db=db, auditor=auditor, clock=platform_of(request).clock,
                                   passwords=wiring_of(request).get(PasswordHasher))


ExternalAccessServiceDep = Annotated[ExternalAccessService, Depends(get_service)]
AcceptanceDep = Annotated[InviteAcceptanceService, Depends(get_acceptance)]


async def optional_caller(request: Request, db: DbSession) -> Caller | None:
    """The signed-in caller if any; accepting an invite also works without one."""
    try:
        return await resolve_caller(request, db)
    except Unauthenticated:
        return None


def _send_after_commit(background: BackgroundTasks, service: ExternalAccessService) -> None:
    for mail in service.mails:
        send_after_response(background, service.mailer, mail.to, mail.subject, mail.body)


@router.post("/patients/{patient_id}/invite-external", response_model=InviteOut)
async def invite_external(patient_id: PatientId, body: InviteIn,
                          service: ExternalAccessServiceDep, background: BackgroundTasks
                          ) -> InviteOut:
    issued = await service.invite(patient_id, body.email, body.user_type)
    _send_after_commit(background, service)
    return InviteOut(invite_url=issued.url, token=issued.token)


@router.post("/accept-invite", response_model=Accepted)
async def accept_invite(body: AcceptIn, service: AcceptanceDep,
                        caller: Annotated[Caller | None, Depends(optional_caller)]
                        ) -> Accepted:
    result = await service.accept(caller, body.token, body.username, body.password)
    status = "registered" if result.status == "registered" else "access_granted"
    return Accepted(status=status, user_id=result.user.id)


@router.delete("/patients/{patient_id}/external-access/{user_id}", response_model=Revoked)
async def revoke_access(patient_id: PatientId, user_id: IdPath,
                        service: ExternalAccessServiceDep) -> Revoked:
    await service.revoke(patient_id, user_id)
    return Revoked(status="revoked")


@router.get("/patients/{patient_id}/external-access", response_model=GrantList)
async def list_access(patient_id: PatientId, service: ExternalAccessServiceDep) -> GrantList:
    grants = await service.active_grants(patient_id)
    return GrantList(grants=[GrantOut(
        user_id=user.id, username=user.username, email=user.email, user_type=grant.user_type,
        granted_at=grant.granted_at, access_level=grant.access_level)
        for grant, user in grants])
