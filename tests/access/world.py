"""A small world of organisations, users and patients shared by the access tests."""

from __future__ import annotations

from dataclasses import dataclass, field

from fastapi import FastAPI

from quill.access.models import ExternalGrant, Organisation, PatientMembership, StaffMembership
from quill.identity.models import User
from tests.helpers import bearer_headers, make_user, runtime_of

KINDS = ("anonymous", "patient", "external", "staff_same", "staff_other", "admin",
         "superadmin")


@dataclass
class World:
    prefix: str
    org_a: int
    org_b: int
    patient_a: str  # in organisation A; the patient user is linked to it
    patient_b: str  # in organisation B
    patient_loose: str  # in no organisation
    users: dict[str, User] = field(default_factory=dict)
    headers: dict[str, dict[str, str]] = field(default_factory=dict)

    @property
    def ids(self) -> dict[str, object]:
        """Values for str.format on route templates."""
        return {"prefix": self.prefix, "org_a": self.org_a, "org_b": self.org_b,
                "patient_a": self.patient_a, "patient_b": self.patient_b,
                "patient_loose": self.patient_loose,
                **{k: u.id for k, u in self.users.items()}}


async def _users(app: FastAPI, prefix: str, patient_a: str) -> dict[str, User]:
    specs = {
        "patient": ("patient", "patient"),
        "external": ("external_hcp", "external_hcp"),
        "staff_same": ("staff", "registered_nurse"),
        "staff_other": ("staff", "consultant"),
        "admin": ("admin", "system_administrator"),
        "superadmin": ("superadmin", "system_administrator"),
    }
    users: dict[str, User] = {}
    for kind, (level, profession) in specs.items():
        extra = {"fhir_patient_id": patient_a} if kind == "patient" else {}
        users[kind] = await make_user(app, f"{prefix}{kind}", level=level,
                                      profession=profession, **extra)
    return users


async def build_world(app: FastAPI, *, prefix: str = "w-", headers: bool = True) -> World:
    """Kinds: anonymous, patient, external, staff_same (org A), staff_other (org B), admin,
    superadmin. The external user holds an active grant for patient B and a revoked one for
    patient A. ``prefix`` keeps several worlds apart in one database."""
    runtime = runtime_of(app)
    now = runtime.clock.now()
    pa, pb, loose = f"{prefix}pat-a", f"{prefix}pat-b", f"{prefix}pat-loose"
    users = await _users(app, prefix, pa)
    async with runtime.session_factory() as db, db.begin():
        org_a = Organisation(name=f"{prefix}Org A", type="gp_practice", location=None,
                             created_at=now, updated_at=now)
        org_b = Organisation(name=f"{prefix}Org B", type="hospital_team", location=None,
                             created_at=now, updated_at=now)
        db.add_all([org_a, org_b])
        await db.flush()
        db.add_all([
            StaffMembership(organisation_id=org_a.id, user_id=users["staff_same"].id,
                            is_primary=True, created_at=now),
            StaffMembership(organisation_id=org_b.id, user_id=users["staff_other"].id,
                            is_primary=True, created_at=now),
            PatientMembership(organisation_id=org_a.id, patient_id=pa, is_primary=True,
                              created_at=now),
            PatientMembership(organisation_id=org_b.id, patient_id=pb, is_primary=True,
                              created_at=now),
            ExternalGrant(user_id=users["external"].id, patient_id=pb,
                          user_type="external_hcp", granted_at=now, revoked_at=None),
            ExternalGrant(user_id=users["external"].id, patient_id=pa,
                          user_type="external_hcp", granted_at=now, revoked_at=now),
        ])
        store = runtime.fhir.store(db)
        for pid in (pa, pb, loose):
            await store.update({"resourceType": "Patient", "id": pid,
                                "name": [{"family": pid, "given": ["World"]}]})
        world = World(prefix=prefix, org_a=org_a.id, org_b=org_b.id, patient_a=pa, patient_b=pb,
                      patient_loose=loose, users=users)
    if headers:
        world.headers = {kind: await bearer_headers(app, user) for kind, user in users.items()}
    world.headers["anonymous"] = {}
    return world
