"""A small clinic for the patient page tests: people with different rights, patients with
demographics, and ways to add rows in bulk."""

from __future__ import annotations

from dataclasses import dataclass
from datetime import timedelta
from typing import Any

from fastapi import FastAPI
from sqlalchemy import insert

from quill.identity.caller import Caller
from quill.identity.models import User
from quill.messaging.models import Conversation
from quill.prescriptions.schemas import ControlledPrescriptionIn
from quill.prescriptions.service import medication_request
from tests.helpers import make_organisation, make_user, runtime_of

PATIENT = "pat-1"
HIDDEN = "pat-hidden"
NHS = "9434765919"


@dataclass(frozen=True)
class Clinic:
    clinician: User  # a consultant: may prescribe controlled drugs
    nurse: User  # staff without the prescribing competency
    outsider: User  # a consultant of another organisation
    admin: User  # an administrator who is also a consultant
    org_id: int


async def store_patient(app: FastAPI, patient_id: str, *, given: str, family: str,
                        birth_date: str | None = None, gender: str | None = None,
                        nhs: str | None = None) -> None:
    resource: dict[str, Any] = {"resourceType": "Patient", "id": patient_id, "name": [
        {"use": "official", "given": [given], "family": family}]}
    if birth_date:
        resource["birthDate"] = birth_date
    if gender:
        resource["gender"] = gender
    if nhs:
        resource["identifier"] = [{"system": "https://fhir.nhs.uk/Id/nhs-number",
                                   "value": nhs}]
    runtime = runtime_of(app)
    async with runtime.session_factory() as db, db.begin():
        await runtime.fhir.store(db).update(resource)


async def make_clinic(app: FastAPI) -> Clinic:
    clinician = await make_user(app, "dr-page", level="staff", profession="consultant")
    nurse = await make_user(app, "nurse-page", level="staff", profession="registered_nurse")
    outsider = await make_user(app, "dr-away", level="staff", profession="consultant")
    admin = await make_user(app, "admin-page", level="admin", profession="consultant")
    org_id = await make_organisation(app, "Riverside", staff=[clinician.id, nurse.id],
                                     patients=[PATIENT])
    await make_organisation(app, "Hilltop", staff=[outsider.id], patients=[HIDDEN])
    await store_patient(app, PATIENT, given="Ada", family="Lovelace",
                        birth_date="1980-03-12", gender="female", nhs=NHS)
    await store_patient(app, HIDDEN, given="Hidden", family="Person")
    return Clinic(clinician, nurse, outsider, admin, org_id)


async def add_threads(app: FastAPI, patient_id: str, creator: int, first: int, count: int
                      ) -> None:
    """Threads about the patient (no messages), ids ``first`` onwards."""
    runtime = runtime_of(app)
    start = runtime.clock.now() - timedelta(days=30)
    async with runtime.session_factory() as db, db.begin():
        await db.execute(insert(Conversation), [
            {"id": n, "fhir_conversation_id": f"page-{n}", "patient_id": patient_id,
             "subject": f"Thread {n}", "status": "active",
             "include_patient_as_participant": False, "created_by": creator,
             "created_at": start, "updated_at": start + timedelta(seconds=n),
             "last_message_id": None}
            for n in range(first, first + count)])


async def add_prescriptions(app: FastAPI, patient_id: str, prescriber: User, count: int
                            ) -> None:
    runtime = runtime_of(app)
    order = ControlledPrescriptionIn(patient_id=patient_id, medication="Morphine 10 mg",
                                     dose="10 mg every 4 hours", duration_days=7)
    async with runtime.session_factory() as db, db.begin():
        store = runtime.fhir.store(db)
        for _ in range(count):
            await store.create(medication_request(Caller.of(prescriber), runtime.clock.now(),
                                                  order))
