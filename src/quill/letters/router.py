"""Letters routes: HTTP only. Clinical, audited, patient access through the policy."""

from __future__ import annotations

from typing import Annotated

from fastapi import Depends, Path, Query, Request

from quill.auth.deps import AuditorDep, CurrentCaller, StaffCaller
from quill.letters.schemas import LetterCreated, LetterIn, LetterList, LetterOut, LetterSummary
from quill.letters.service import LetterService
from quill.openehr.port import MAX_PAGE
from quill.web.clinical import require_clinical_services
from quill.web.deps import DbSession
from quill.web.routing import api_router
from quill.web.wiring import platform_of

router = api_router(tags=["letters"], dependencies=[Depends(require_clinical_services)])

PatientId = Annotated[str, Path(min_length=1, max_length=64)]


# The caller before the session, as the routes always had it: an unknown token is
# refused without opening a transaction.
async def get_service(request: Request, caller: CurrentCaller, db: DbSession,
                      auditor: AuditorDep) -> LetterService:
    platform = platform_of(request)
    return LetterService(db=db, caller=caller, auditor=auditor, clock=platform.clock,
                         compositions=platform.compositions.store(db),
                         fhir=platform.fhir.store(db))


LetterServiceDep = Annotated[LetterService, Depends(get_service)]


@router.post("/patients/{patient_id}/letters", response_model=LetterCreated)
async def post_letter(patient_id: PatientId, body: LetterIn, _staff: StaffCaller,
                      service: LetterServiceDep) -> LetterCreated:
    uid = await service.create(patient_id, body)
    return LetterCreated(patient_id=patient_id, composition_uid=str(uid), title=body.title)


@router.get("/patients/{patient_id}/letters", response_model=LetterList)
async def get_letters(
    patient_id: PatientId, service: LetterServiceDep,
    limit: Annotated[int, Query(ge=1, le=MAX_PAGE)] = 50,
    cursor: Annotated[str | None, Query(max_length=500)] = None,
) -> LetterList:
    page = await service.page(patient_id, limit=limit, cursor=cursor)
    letters = [LetterSummary(composition_uid=str(item.uid), title=item.name,
                             author_name=item.composer_name, created_at=item.start_time)
               for item in page.items]
    return LetterList(patient_id=patient_id, letters=letters, next_cursor=page.next_cursor)


@router.get("/patients/{patient_id}/letters/{composition_uid}", response_model=LetterOut)
async def get_one_letter(
    patient_id: PatientId,
    composition_uid: Annotated[str, Path(min_length=1, max_length=300)],
    service: LetterServiceDep,
) -> LetterOut:
    stored = await service.read(patient_id, composition_uid)
    return LetterOut(patient_id=patient_id, composition_uid=str(stored.uid), data=stored.data)
