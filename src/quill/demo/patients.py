"""Demo patients for `quill seed-demo`: FHIR Patients with valid NHS numbers, their
organisation memberships, a relative with an external grant, and demo letters.
Safe to run any number of times."""

from __future__ import annotations

import secrets
from dataclasses import dataclass

from sqlalchemy import select
from sqlalchemy.ext.asyncio import AsyncSession

from quill.access.models import ExternalGrant, Organisation, PatientMembership
from quill.audit.service import Auditor
from quill.auth.passwords import PasswordHasher
from quill.clock import Clock
from quill.demo.access import DEMO_PATIENT_IDS
from quill.demo.letters import seed_letters
from quill.errors import NotFound
from quill.fhir.port import FhirStore
from quill.identity.models import User
from quill.patients.models import PatientRecord
from quill.patients.resource import PatientFields, new_patient
from quill.runtime import Runtime


@dataclass(frozen=True)
class DemoPatient:
    patient_id: str
    given: str
    family: str
    birth_date: str
    gender: str
    nhs_number: str
    organisation: str | None = None  # for the patients access.demo does not place


PATIENTS = (
    DemoPatient(DEMO_PATIENT_IDS[0], "Alice", "Patient", "1968-04-12", "female", "9434765919"),
    DemoPatient(DEMO_PATIENT_IDS[1], "Bob", "Patient", "1975-09-30", "male", "4010232137"),
    DemoPatient(DEMO_PATIENT_IDS[2], "Carys", "Jones", "1990-01-05", "female", "9000000009"),
    DemoPatient("demo-patient-4", "Dev", "Sharma", "1952-11-23", "male", "4857773457",
                "Riverside Hospital Cardiology"),
    DemoPatient("demo-patient-5", "Eilidh", "MacLeod", "2001-06-17", "female", "7321456986",
                "Elm Street Surgery"),
    DemoPatient("demo-patient-6", "Femi", "Adebayo", "1983-03-08", "male", "6123456784",
                "Northgate Private Clinic"),
)
RELATIVE = ("relative.rita", "Rita Relative", DEMO_PATIENT_IDS[0])


async def _patient(db: AsyncSession, store: FhirStore, clock: Clock, mrn_system: str,
                   spec: DemoPatient) -> bool:
    try:
        await store.read("Patient", spec.patient_id)
        created = False
    except NotFound:
        fields = PatientFields(given_name=spec.given, family_name=spec.family,
                               birth_date=spec.birth_date, gender=spec.gender,
                               nhs_number=spec.nhs_number,
                               mrn=f"DEMO-{spec.patient_id.rsplit('-', 1)[-1]}")
        await store.update(new_patient(fields, mrn_system, spec.patient_id))
        created = True
    if await db.get(PatientRecord, spec.patient_id) is None:
        now = clock.now()
        db.add(PatientRecord(patient_id=spec.patient_id, is_active=True,
                             nhs_number=spec.nhs_number, created_at=now, updated_at=now,
                             updated_by=None))
    return created


async def _membership(db: AsyncSession, clock: Clock, spec: DemoPatient) -> None:
    if spec.organisation is None:
        return
    org_id = (await db.execute(select(Organisation.id).where(
        Organisation.name == spec.organisation))).scalars().first()
    if org_id is None:
        return
    found = await db.execute(select(PatientMembership.id).where(
        PatientMembership.organisation_id == org_id,
        PatientMembership.patient_id == spec.patient_id))
    if found.first() is None:
        db.add(PatientMembership(organisation_id=org_id, patient_id=spec.patient_id,
                                 is_primary=True, created_at=clock.now()))


async def _relative(db: AsyncSession, clock: Clock, passwords: PasswordHasher,
                    demo_password: str) -> list[str]:
    username, full_name, patient_id = RELATIVE
    lines: list[str] = []
    user = (await db.execute(select(User).where(User.username_key == username))
            ).scalars().first()
    now = clock.now()
    if user is None:
        password = demo_password or secrets.token_urlsafe(12)
        user = User(username=username, username_key=username, full_name=full_name,
                    email=f"{username}@demo.quill.invalid",
                    password_hash=await passwords.hash(password),
                    system_permissions="patient_advocate", base_profession="patient_advocate",
                    additional_competencies=[], removed_competencies=[], totp_enabled=False,
                    is_active=True, created_at=now, updated_at=now)
        db.add(user)
        await db.flush()
        await Auditor(db, clock).record("user.create", "User", str(user.id))
        lines.append(f"demo relative created: {username}"
                     + ("" if demo_password else f" (password, shown once: {password})"))
    active = (await db.execute(select(ExternalGrant.id).where(
        ExternalGrant.user_id == user.id, ExternalGrant.patient_id == patient_id,
        ExternalGrant.revoked_at.is_(None)))).first()
    if active is None:
        db.add(ExternalGrant(user_id=user.id, patient_id=patient_id,
                             user_type="patient_advocate", access_level="read_write",
                             granted_at=now, granted_by=None, revoked_at=None))
    return lines


async def seed_patients(db: AsyncSession, runtime: Runtime) -> list[str]:
    """Create whatever demo patients, memberships, grants and letters are missing."""
    store, clock = runtime.fhir.store(db), runtime.clock
    created = 0
    for spec in PATIENTS:
        created += await _patient(db, store, clock, runtime.settings.mrn_system, spec)
        await _membership(db, clock, spec)
    lines = [f"demo patients: {len(PATIENTS)} ({created} created)"]
    lines += await _relative(db, clock, runtime.passwords, runtime.settings.demo_password)
    letters = await seed_letters(db, runtime, [spec.patient_id for spec in PATIENTS])
    await db.flush()
    lines.append(f"demo letters added: {letters}")
    return lines
