"""Letters routes: HTTP only. Clinical, audited, patient access through the policy."""

from __future__ import annotations

from typing import Annotated

from fastapi import Depends, Path, Query

from quill.auth.deps import AuditorDep, CurrentCaller, StaffCaller
from quill.letters.composition import Letter
from quill.letters.schemas import LetterCreated, LetterIn, LetterList, LetterOut, LetterSummary
from quill.letters.service import LetterContext, create_letter, get_letter, list_letters
from quill.openehr.port import MAX_PAGE
from quill.web.clinical import require_clinical_services
from quill.web.deps import DbSession, RuntimeDep
from quill.web.routing import api_router

router = api_router(tags=["letters"], dependencies=[Depends(require_clinical_services)])

PatientId = Annotated[str, Path(min_length=1, max_length=64)]


@router.post("/patients/{patient_id}/letters", response_model=LetterCreated)
async def post_letter(patient_id: PatientId, body: LetterIn, caller: StaffCaller,
                      db: DbSession, runtime: RuntimeDep, auditor: AuditorDep) -> LetterCreated:
    ctx = LetterContext(db, runtime.composition_store(db), caller, runtime.fhir.store(db))
    letter = Letter(title=body.title, body=body.body, author_name=body.author_name,
                    author_email=str(body.author_email) if body.author_email else None,
                    created_at=runtime.clock.now())
    uid = await create_letter(ctx, patient_id, letter)
    await auditor.record("letter.create", "Composition", str(uid), patient_id=patient_id)
    return LetterCreated(patient_id=patient_id, composition_uid=str(uid), title=body.title)


@router.get("/patients/{patient_id}/letters", response_model=LetterList)
async def get_letters(
    patient_id: PatientId, caller: CurrentCaller, db: DbSession, runtime: RuntimeDep,
    auditor: AuditorDep,
    limit: Annotated[int, Query(ge=1, le=MAX_PAGE)] = 50,
    cursor: Annotated[str | None, Query(max_length=500)] = None,
) -> LetterList:
    ctx = LetterContext(db, runtime.composition_store(db), caller, runtime.fhir.store(db))
    page = await list_letters(ctx, patient_id, limit=limit, cursor=cursor)
    await auditor.record("letter.list", "Composition", None, patient_id=patient_id)
    letters = [LetterSummary(composition_uid=str(item.uid), title=item.name,
                             author_name=item.composer_name, created_at=item.start_time)
               for item in page.items]
    return LetterList(patient_id=patient_id, letters=letters, next_cursor=page.next_cursor)


@router.get("/patients/{patient_id}/letters/{composition_uid}", response_model=LetterOut)
async def get_one_letter(
    patient_id: PatientId,
    composition_uid: Annotated[str, Path(min_length=1, max_length=300)],
    caller: CurrentCaller, db: DbSession, runtime: RuntimeDep, auditor: AuditorDep,
) -> LetterOut:
    ctx = LetterContext(db, runtime.composition_store(db), caller, runtime.fhir.store(db))
    stored = await get_letter(ctx, patient_id, composition_uid)
    await auditor.record("letter.read", "Composition", str(stored.uid), patient_id=patient_id)
    return LetterOut(patient_id=patient_id, composition_uid=str(stored.uid), data=stored.data)
