"""Demo organisations and accounts for `quill seed-demo`. Safe to run any number of times."""

from __future__ import annotations

import secrets
from dataclasses import dataclass

from sqlalchemy import select
from sqlalchemy.ext.asyncio import AsyncSession

from quill.access.models import (
    Organisation,
    OrganisationFeature,
    PatientMembership,
    StaffMembership,
)
from quill.audit.service import Auditor
from quill.auth.passwords import PasswordHasher
from quill.clock import Clock
from quill.identity.models import User
from quill.runtime import Runtime

# FHIR Patient ids the demo patient users are linked to; the patients seeding step creates
# Patient resources with these ids.
DEMO_PATIENT_IDS = ("demo-patient-1", "demo-patient-2", "demo-patient-3")

ORGANISATIONS: dict[str, tuple[str, str, tuple[str, ...]]] = {
    # name: (type, location, enabled features)
    "Riverside Hospital Cardiology": ("hospital_team", "Riverside",
                                      ("messaging", "letters", "external_access")),
    "Elm Street Surgery": ("gp_practice", "Elm Street", ("messaging", "letters")),
    "Northgate Private Clinic": ("private_clinic", "Northgate", ("messaging",)),
    "Quill Teaching Academy": ("teaching_establishment", "Campus", ("teaching",)),
}


@dataclass(frozen=True)
class DemoUser:
    username: str
    full_name: str
    level: str
    profession: str
    organisations: tuple[str, ...] = ()  # staff memberships; the first is primary
    patient_id: str | None = None


USERS = (
    DemoUser("demo.admin", "Ada Admin", "admin", "system_administrator"),
    DemoUser("dr.cardio", "Dr Cora Cardio", "staff", "consultant",
             ("Riverside Hospital Cardiology",)),
    DemoUser("dr.gp", "Dr Gil Practitioner", "staff", "general_practitioner",
             ("Elm Street Surgery", "Northgate Private Clinic")),
    DemoUser("nurse.nia", "Nia Nurse", "staff", "registered_nurse",
             ("Riverside Hospital Cardiology",)),
    DemoUser("pharm.paz", "Paz Pharmacist", "staff", "pharmacist", ("Elm Street Surgery",)),
    DemoUser("dr.trainee", "Dr Tam Trainee", "staff", "foundation_year_2",
             ("Riverside Hospital Cardiology", "Quill Teaching Academy")),
    DemoUser("reception.rae", "Rae Receptionist", "staff", "receptionist",
             ("Elm Street Surgery",)),
    DemoUser("patient.alice", "Alice Patient", "patient", "patient",
             patient_id=DEMO_PATIENT_IDS[0]),
    DemoUser("patient.bob", "Bob Patient", "patient", "patient", patient_id=DEMO_PATIENT_IDS[1]),
)

PATIENT_MEMBERSHIPS = (
    ("Riverside Hospital Cardiology", DEMO_PATIENT_IDS[0], True),
    ("Elm Street Surgery", DEMO_PATIENT_IDS[0], False),
    ("Elm Street Surgery", DEMO_PATIENT_IDS[1], True),
    ("Northgate Private Clinic", DEMO_PATIENT_IDS[2], True),
)


@dataclass
class _AccessSeeder:
    """The access step's writes, with only the parts of the Runtime they use."""

    db: AsyncSession
    clock: Clock
    passwords: PasswordHasher
    auditor: Auditor

    async def organisations(self) -> dict[str, int]:
        now = self.clock.now()
        ids: dict[str, int] = {}
        for name, (kind, location, features) in ORGANISATIONS.items():
            org = (await self.db.execute(select(Organisation).where(Organisation.name == name))
                   ).scalars().first()
            if org is None:
                org = Organisation(name=name, type=kind, location=location, created_at=now,
                                   updated_at=now)
                self.db.add(org)
                await self.db.flush()
            ids[name] = org.id
            have = set((await self.db.execute(select(OrganisationFeature.feature_key).where(
                OrganisationFeature.organisation_id == org.id))).scalars().all())
            self.db.add_all(
                OrganisationFeature(organisation_id=org.id, feature_key=key, enabled_at=now,
                                    enabled_by=None) for key in features if key not in have)
        await self.db.flush()
        return ids

    async def user(self, spec: DemoUser, password: str) -> tuple[User, bool]:
        found = (await self.db.execute(
            select(User).where(User.username_key == spec.username.lower()))).scalars().first()
        if found is not None:
            return found, False
        now = self.clock.now()
        user = User(
            username=spec.username, username_key=spec.username.lower(),
            email=f"{spec.username}@demo.quill.invalid", full_name=spec.full_name,
            password_hash=await self.passwords.hash(password), system_permissions=spec.level,
            base_profession=spec.profession, additional_competencies=[],
            removed_competencies=[], totp_enabled=False, fhir_patient_id=spec.patient_id,
            is_active=True, created_at=now, updated_at=now,
        )
        self.db.add(user)
        await self.db.flush()
        await self.auditor.record("user.create", "User", str(user.id))
        return user, True

    async def memberships(self, user: User, spec: DemoUser, orgs: dict[str, int]) -> None:
        have = set((await self.db.execute(select(StaffMembership.organisation_id).where(
            StaffMembership.user_id == user.id))).scalars().all())
        for index, name in enumerate(spec.organisations):
            if orgs[name] not in have:
                self.db.add(StaffMembership(organisation_id=orgs[name], user_id=user.id,
                                            is_primary=index == 0 and not have,
                                            created_at=self.clock.now()))

    async def patient_memberships(self, orgs: dict[str, int]) -> None:
        for name, patient_id, primary in PATIENT_MEMBERSHIPS:
            found = await self.db.execute(select(PatientMembership.id).where(
                PatientMembership.organisation_id == orgs[name],
                PatientMembership.patient_id == patient_id))
            if found.first() is None:
                self.db.add(PatientMembership(organisation_id=orgs[name], patient_id=patient_id,
                                              is_primary=primary, created_at=self.clock.now()))


async def seed_access(db: AsyncSession, runtime: Runtime) -> list[str]:
    """Create whatever demo organisations, accounts and memberships are missing."""
    configured = runtime.settings.demo_password
    password = configured or secrets.token_urlsafe(12)
    # Seeding acts for nobody: its audit entries name no actor and no request.
    seeder = _AccessSeeder(db=db, clock=runtime.clock, passwords=runtime.passwords,
                           auditor=Auditor(db, runtime.clock))
    orgs = await seeder.organisations()
    created: list[str] = []
    for spec in USERS:
        user, new = await seeder.user(spec, password)
        if new:
            created.append(spec.username)
        await seeder.memberships(user, spec, orgs)
    await seeder.patient_memberships(orgs)
    await db.flush()
    lines = [f"demo organisations: {len(orgs)}"]
    if created:
        lines.append(f"demo users created: {', '.join(created)}")
        lines.append("demo password: (from QUILL_DEMO_PASSWORD)" if configured
                     else f"demo password (shown once): {password}")
    else:
        lines.append("demo users: already present")
    return lines
