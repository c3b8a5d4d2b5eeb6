"""External access routes: invite, accept (public), revoke, list. Audited."""

from __future__ import annotations

from typing import Annotated

from fastapi import BackgroundTasks, Depends, Path, Request

from quill.auth.deps import AuditorDep, CurrentCaller, resolve_caller
from quill.email.port import send_after_response
from quill.errors import Unauthenticated
from quill.external_access import service
from quill.external_access.schemas import (
    Accepted,
    AcceptIn,
    GrantList,
    GrantOut,
    InviteIn,
    InviteOut,
    Revoked,
)
from quill.fhir.port import existing_patient
from quill.identity.caller import Caller
from quill.web.deps import DbSession, RequestAuditorDep, RuntimeDep
from quill.web.keyset import IdPath
from quill.web.routing import api_router

router = api_router(tags=["external access"])

PatientId = Annotated[str, Path(min_length=1, max_length=64)]
INVITE_SUBJECT = "You have been invited to Quill"


async def optional_caller(request: Request, db: DbSession, runtime: RuntimeDep
                          ) -> Caller | None:
    """The signed-in caller if any; accepting an invite also works without one."""
    try:
        return await resolve_caller(request, db)
    except Unauthenticated:
        return None


def _invite_body(url: str) -> str:
    # No patient details in mail: the link is enough, and the record stays behind login.
    return ("You have been invited to access a patient's record on Quill.\n\n"
            f"Accept the invitation (valid for 7 days, single use):\n{url}\n\n"
            "If you were not expecting this, ignore this email.\n")


@router.post("/patients/{patient_id}/invite-external", response_model=InviteOut)
async def invite_external(patient_id: PatientId, body: InviteIn, caller: CurrentCaller,
                          db: DbSession, runtime: RuntimeDep, auditor: AuditorDep,
                          background: BackgroundTasks) -> InviteOut:
    await service.ensure_patient_or_admin(db, caller, patient_id)
    await existing_patient(runtime.fhir.store(db), patient_id)
    issued = await service.invite(db, runtime, caller, patient_id, body.email, body.user_type)
    await auditor.record("external_access.invite", "ExternalInvite", None,
                         patient_id=patient_id)
    send_after_response(background, runtime.mailer, issued.email, INVITE_SUBJECT,
                        _invite_body(issued.url))
    return InviteOut(invite_url=issued.url, token=issued.token)


@router.post("/accept-invite", response_model=Accepted)
async def accept_invite(body: AcceptIn, db: DbSession, runtime: RuntimeDep,
                        auditor: RequestAuditorDep,
                        caller: Annotated[Caller | None, Depends(optional_caller)]
                        ) -> Accepted:
    result = await service.accept(db, runtime, caller, body.token, body.username,
                                  body.password)
    await auditor.record("external_access.accept", "ExternalGrant", str(result.user.id),
                         patient_id=result.patient_id, actor_id=result.user.id)
    status = "registered" if result.status == "registered" else "access_granted"
    return Accepted(status=status, user_id=result.user.id)


@router.delete("/patients/{patient_id}/external-access/{user_id}", response_model=Revoked)
async def revoke_access(patient_id: PatientId, user_id: IdPath, caller: CurrentCaller,
                        db: DbSession, runtime: RuntimeDep, auditor: AuditorDep) -> Revoked:
    await service.ensure_patient_or_admin(db, caller, patient_id)
    await service.revoke(db, runtime, patient_id, user_id)
    await auditor.record("external_access.revoke", "User", str(user_id),
                         patient_id=patient_id)
    return Revoked(status="revoked")


@router.get("/patients/{patient_id}/external-access", response_model=GrantList)
async def list_access(patient_id: PatientId, caller: CurrentCaller, db: DbSession,
                      runtime: RuntimeDep, auditor: AuditorDep) -> GrantList:
    await service.ensure_patient_or_admin(db, caller, patient_id)
    await existing_patient(runtime.fhir.store(db), patient_id)
    grants = await service.active_grants(db, patient_id)
    await auditor.record("external_access.list", "ExternalGrant", None, patient_id=patient_id)
    return GrantList(grants=[GrantOut(
        user_id=user.id, username=user.username, email=user.email, user_type=grant.user_type,
        granted_at=grant.granted_at, access_level=grant.access_level)
        for grant, user in grants])
