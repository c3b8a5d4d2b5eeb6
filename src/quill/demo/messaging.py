"""Demo threads for `quill seed-demo`: a few per demo patient, one with the patient in it."""

from __future__ import annotations

from dataclasses import dataclass

from sqlalchemy import select
from sqlalchemy.ext.asyncio import AsyncSession

from quill.audit.service import Auditor
from quill.errors import NotFound
from quill.identity.caller import Caller
from quill.identity.models import User
from quill.messaging.models import Conversation
from quill.messaging.schemas import ConversationCreateIn, MessageIn
from quill.messaging.service import MessagingService
from quill.runtime import Runtime


@dataclass(frozen=True)
class DemoThread:
    patient_id: str
    author: str
    others: tuple[str, ...]
    subject: str
    opening: str
    reply: tuple[str, str] | None = None  # (username, text)
    include_patient: bool = False


THREADS = (
    DemoThread("demo-patient-1", "dr.cardio", ("nurse.nia",), "Echo follow-up",
               "Echo shows mild LV impairment; please book a clinic review in 6 weeks.",
               ("nurse.nia", "Booked for the 14th, letter sent.")),
    DemoThread("demo-patient-1", "dr.cardio", (), "Your medication",
               "We are increasing your ramipril to 5 mg once daily. Any dizziness, let us know.",
               ("patient.alice", "Thank you, I will start tomorrow."), include_patient=True),
    DemoThread("demo-patient-2", "dr.gp", ("pharm.paz",), "Warfarin dosing",
               "INR 3.4 today. Could you advise on this week's dose?",
               ("pharm.paz", "Reduce to 4 mg for three days and recheck on Friday.")),
    DemoThread("demo-patient-3", "dr.gp", (), "Private clinic referral",
               "Referral received; appointment offered next Tuesday."),
)


async def _users(db: AsyncSession, names: set[str]) -> dict[str, User]:
    rows = await db.execute(select(User).where(User.username_key.in_(
        [n.lower() for n in names])))
    return {u.username: u for u in rows.scalars()}


def _service(db: AsyncSession, runtime: Runtime, user: User) -> MessagingService:
    return MessagingService(db=db, caller=Caller.of(user),
                            auditor=Auditor(db, runtime.clock, None), clock=runtime.clock,
                            ids=runtime.ids, fhir=runtime.fhir.store(db))


async def seed_threads(db: AsyncSession, runtime: Runtime) -> list[str]:
    """Create the demo threads whose patient has none yet; skip patients not in FHIR."""
    names = {t.author for t in THREADS} | {n for t in THREADS for n in t.others} | {
        t.reply[0] for t in THREADS if t.reply}
    users = await _users(db, names)
    seeded = set((await db.execute(select(Conversation.patient_id).distinct())).scalars())
    created = 0
    for thread in THREADS:
        author = users.get(thread.author)
        if thread.patient_id in seeded or author is None:
            continue
        service = _service(db, runtime, author)
        try:
            conversation = await service.create(ConversationCreateIn(
                patient_id=thread.patient_id, subject=thread.subject,
                initial_message=thread.opening,
                participant_ids=[users[n].id for n in thread.others if n in users],
                include_patient_as_participant=thread.include_patient))
        except NotFound:
            continue  # the demo patient is not in the FHIR store
        if thread.reply and thread.reply[0] in users:
            await _service(db, runtime, users[thread.reply[0]]).post(
                conversation, MessageIn(body=thread.reply[1]))
        created += 1
    return [f"demo threads: {created} added"]
