"""Letter rules: patient access first, then the patient's EHR and its letter compositions."""

from __future__ import annotations

from dataclasses import dataclass

from sqlalchemy.ext.asyncio import AsyncSession

from quill.access.policy import ensure_can_see_patient
from quill.audit.service import Auditor
from quill.clock import Clock
from quill.errors import NotFound
from quill.fhir.port import FhirStore, existing_patient
from quill.identity.caller import Caller
from quill.letters.composition import ARCHETYPE_ID, Letter, build_letter, read_letter
from quill.letters.schemas import LetterIn
from quill.openehr.port import CompositionPage, CompositionStore, StoredComposition, VersionUid

# EHR subjects are FHIR Patient ids in this namespace.
SUBJECT_NAMESPACE = "quill_fhir_patient"


@dataclass
class LetterService:
    db: AsyncSession
    caller: Caller
    auditor: Auditor
    clock: Clock
    compositions: CompositionStore
    # A letter is only about a Patient that exists in the FHIR store.
    fhir: FhirStore

    async def _ensure_patient(self, patient_id: str) -> None:
        await ensure_can_see_patient(self.db, self.caller, patient_id)
        await existing_patient(self.fhir, patient_id)

    async def create(self, patient_id: str, body: LetterIn) -> VersionUid:
        """Write a letter, dated now, into the patient's EHR (made on first use)."""
        letter = Letter(title=body.title, body=body.body, author_name=body.author_name,
                        author_email=str(body.author_email) if body.author_email else None,
                        created_at=self.clock.now())
        await self._ensure_patient(patient_id)
        ehr_id = await self.compositions.ensure_ehr(patient_id, SUBJECT_NAMESPACE)
        uid = await self.compositions.create_composition(ehr_id, build_letter(letter))
        await self.auditor.record("letter.create", "Composition", str(uid),
                                  patient_id=patient_id)
        return uid

    async def page(self, patient_id: str, *, limit: int, cursor: str | None
                   ) -> CompositionPage:
        """The patient's letters, newest first."""
        await self._ensure_patient(patient_id)
        ehr_id = await self.compositions.find_ehr(patient_id, SUBJECT_NAMESPACE)
        letters = CompositionPage([], None) if ehr_id is None else (
            await self.compositions.list_compositions(ehr_id, ARCHETYPE_ID, limit=limit,
                                                      cursor=cursor))
        await self.auditor.record("letter.list", "Composition", None, patient_id=patient_id)
        return letters

    async def read(self, patient_id: str, uid: str) -> StoredComposition:
        """NotFound unless the uid names a letter in this patient's own EHR."""
        await self._ensure_patient(patient_id)
        ehr_id = await self.compositions.find_ehr(patient_id, SUBJECT_NAMESPACE)
        if ehr_id is None or not _plausible_uid(uid):
            raise NotFound("Letter not found")
        stored = await self.compositions.read_composition(ehr_id, uid)
        if stored.data.get("archetype_node_id") != ARCHETYPE_ID:
            raise NotFound("Letter not found")
        read_letter(stored.data)
        await self.auditor.record("letter.read", "Composition", str(stored.uid),
                                  patient_id=patient_id)
        return stored


def _plausible_uid(uid: str) -> bool:
    parts = uid.split("::")
    return 0 < len(uid) <= 300 and len(parts) in (1, 3) and all(parts) and (
        len(parts) == 1 or parts[2].isdigit())
