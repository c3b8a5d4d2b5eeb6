"""Demo threads are added once per demo patient that exists in FHIR."""

from __future__ import annotations

from fastapi import FastAPI
from sqlalchemy import func, select

from quill.demo.access import DEMO_PATIENT_IDS, seed_access
from quill.demo.messaging import seed_threads
from quill.identity.models import User
from quill.messaging.models import Conversation, ConversationParticipant, Message
from tests.helpers import runtime_of
from tests.messaging.support import add_patient


async def test_seed_threads_is_idempotent(app: FastAPI) -> None:
    runtime = runtime_of(app)
    for patient_id in DEMO_PATIENT_IDS[:2]:
        await add_patient(app, patient_id)
    async with runtime.session_factory() as db, db.begin():
        await seed_access(db, runtime)
        first = await seed_threads(db, runtime)
    async with runtime.session_factory() as db, db.begin():
        second = await seed_threads(db, runtime)
    assert first == ["demo threads: 3 added"]  # demo-patient-3 is not in FHIR here
    assert second == ["demo threads: 0 added"]
    async with runtime.session_factory() as db:
        threads = (await db.execute(select(func.count()).select_from(Conversation))).scalar()
        messages = (await db.execute(select(func.count()).select_from(Message))).scalar()
        alice = (await db.execute(select(User.id).where(User.username == "patient.alice"))
                 ).scalar_one()
        alice_in = (await db.execute(select(func.count()).select_from(ConversationParticipant)
                                     .where(ConversationParticipant.user_id == alice))).scalar()
    assert threads == 3
    assert messages == 6
    assert alice_in == 1
