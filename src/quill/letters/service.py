"""Letter rules: patient access first, then the patient's EHR and its letter compositions."""

from __future__ import annotations

from dataclasses import dataclass

from sqlalchemy.ext.asyncio import AsyncSession

from quill.access.policy import ensure_can_see_patient
from quill.errors import NotFound
from quill.fhir.port import FhirStore, existing_patient
from quill.identity.caller import Caller
from quill.letters.composition import ARCHETYPE_ID, Letter, build_letter, read_letter
from quill.openehr.port import CompositionPage, CompositionStore, StoredComposition, VersionUid

# EHR subjects are FHIR Patient ids in this namespace.
SUBJECT_NAMESPACE = "quill_fhir_patient"


@dataclass(frozen=True)
class LetterContext:
    db: AsyncSession
    store: CompositionStore
    caller: Caller
    # The FHIR store: a letter is only about a Patient that exists there.
    fhir: FhirStore


async def _ensure_patient(ctx: LetterContext, patient_id: str) -> None:
    await ensure_can_see_patient(ctx.db, ctx.caller, patient_id)
    await existing_patient(ctx.fhir, patient_id)


async def create_letter(ctx: LetterContext, patient_id: str, letter: Letter) -> VersionUid:
    await _ensure_patient(ctx, patient_id)
    ehr_id = await ctx.store.ensure_ehr(patient_id, SUBJECT_NAMESPACE)
    return await ctx.store.create_composition(ehr_id, build_letter(letter))


async def list_letters(ctx: LetterContext, patient_id: str, *, limit: int,
                       cursor: str | None) -> CompositionPage:
    await _ensure_patient(ctx, patient_id)
    ehr_id = await ctx.store.find_ehr(patient_id, SUBJECT_NAMESPACE)
    if ehr_id is None:
        return CompositionPage([], None)
    return await ctx.store.list_compositions(ehr_id, ARCHETYPE_ID, limit=limit, cursor=cursor)


async def get_letter(ctx: LetterContext, patient_id: str, uid: str) -> StoredComposition:
    """NotFound unless the uid names a letter in this patient's own EHR."""
    await _ensure_patient(ctx, patient_id)
    ehr_id = await ctx.store.find_ehr(patient_id, SUBJECT_NAMESPACE)
    if ehr_id is None or not _plausible_uid(uid):
        raise NotFound("Letter not found")
    stored = await ctx.store.read_composition(ehr_id, uid)
    if stored.data.get("archetype_node_id") != ARCHETYPE_ID:
        raise NotFound("Letter not found")
    read_letter(stored.data)
    return stored


def _plausible_uid(uid: str) -> bool:
    parts = uid.split("::")
    return 0 < len(uid) <= 300 and len(parts) in (1, 3) and all(parts) and (
        len(parts) == 1 or parts[2].isdigit())
