"""Demo letters for `quill seed-demo`: a few per demo patient, added once."""

from __future__ import annotations

from collections.abc import Sequence
from datetime import timedelta

from sqlalchemy.ext.asyncio import AsyncSession

from quill.letters.composition import ARCHETYPE_ID, Letter, build_letter
from quill.letters.service import SUBJECT_NAMESPACE
from quill.runtime import Runtime

DEMO_LETTERS = (
    ("Clinic letter: first appointment",
     "## Summary\n\nSeen in clinic today. Symptoms are **improving**.\n\n"
     "* Continue current medication\n* Review in six weeks"),
    ("Discharge summary",
     "## Admission\n\nAdmitted for observation; discharged home the next day.\n\n"
     "No changes to medication."),
    ("Referral: physiotherapy",
     "Please assess for a course of physiotherapy for lower back pain."),
)
DEMO_AUTHOR = ("Dr Demo Clinician", "clinician@quill.invalid")


async def seed_letters(db: AsyncSession, runtime: Runtime, patient_ids: Sequence[str]) -> int:
    """Give each patient the demo letters unless they already have letters; returns added."""
    store = runtime.compositions.store(db)
    added = 0
    base = runtime.clock.now()
    for patient_id in patient_ids:
        ehr_id = await store.ensure_ehr(patient_id, SUBJECT_NAMESPACE)
        existing = await store.list_compositions(ehr_id, ARCHETYPE_ID, limit=1)
        if existing.items:
            continue
        for age, (title, body) in enumerate(reversed(DEMO_LETTERS)):
            letter = Letter(title=title, body=body, author_name=DEMO_AUTHOR[0],
                            author_email=DEMO_AUTHOR[1],
                            created_at=base - timedelta(days=7 * (len(DEMO_LETTERS) - age)))
            await store.create_composition(ehr_id, build_letter(letter))
            added += 1
    return added
