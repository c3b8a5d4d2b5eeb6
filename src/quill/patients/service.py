"""Patient rules: visibility first (404 before FHIR is touched), then the FHIR Patient.

Demographics live in FHIR; activation state lives in ``patient_records``. Every operation
on one patient is audited here, after it succeeded.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any

from sqlalchemy import select
from sqlalchemy.exc import IntegrityError
from sqlalchemy.ext.asyncio import AsyncSession

from quill.access.models import Organisation, PatientMembership, StaffMembership
from quill.access.policy import ensure_can_see_patient, visible_patient_sources
from quill.audit.service import Auditor
from quill.clock import Clock, IdSource
from quill.errors import Conflict, Forbidden, Invalid, NotFound, PreconditionFailed, Upstream
from quill.fhir.port import (
    FhirStore,
    PatientLister,
    Resource,
    existing_patient,
    is_valid_id,
    parse_etag,
    version_of,
)
from quill.identity.caller import Caller
from quill.identity.levels import is_admin
from quill.patients.access_log import LogEntry, read_log
from quill.patients.listing import ListRequest, PatientPage, inactive_among, selection
from quill.patients.models import PatientRecord
from quill.patients.nhs_number import NHS_NUMBER_SYSTEM
from quill.patients.resource import (
    PatientFields,
    apply_demographics,
    apply_fields,
    new_patient,
    nhs_number_of,
)

NOT_FOUND = "Patient not found"
DUPLICATE_NHS = "A patient with this NHS number already exists"


def _check_if_match(current: Resource, if_match: str | None) -> str | None:
    version = version_of(current)
    if if_match is not None and parse_etag(if_match) != version:
        raise PreconditionFailed({"message": "Version mismatch", "error_code": "version_conflict",
                                  "current_version": version})
    return version


@dataclass(frozen=True)
class PatientService:
    db: AsyncSession
    caller: Caller
    auditor: Auditor
    clock: Clock
    ids: IdSource
    fhir: FhirStore
    lister: PatientLister
    mrn_system: str

    async def _audit(self, action: str, patient_id: str) -> None:
        await self.auditor.record(action, "Patient", patient_id, patient_id=patient_id)

    async def visible_patient(self, patient_id: str) -> Resource:
        """The Patient, or 404 alike for a patient the caller may not see and a missing one.
        Not audited: callers audit what they do with it."""
        await ensure_can_see_patient(self.db, self.caller, patient_id)
        return await existing_patient(self.fhir, patient_id)

    async def create(self, fields: PatientFields, patient_id: str | None) -> Resource:
        if patient_id is not None and not is_valid_id(patient_id):
            raise Invalid("patient_id must be a FHIR id (letters, digits, '-' and '.')")
        pid = patient_id or self.ids.new_id()
        resource = new_patient(fields, self.mrn_system, pid)
        nhs = nhs_number_of(resource)
        if nhs is not None:
            await self._ensure_unique_nhs(nhs, None)
        if patient_id is not None and await self._exists(patient_id):
            raise Conflict("A patient with this id already exists")
        await self._claim_record(pid, nhs)
        stored = await self.fhir.update(resource)
        await self._join_primary_organisation(pid)
        await self.db.flush()
        created = str(stored["id"])
        await self._audit("patient.create", created)
        return stored

    async def list_patients(self, req: ListRequest) -> PatientPage:
        if req.admin_scope and not self.caller.is_admin:
            raise Forbidden("scope=admin needs admin privileges")
        include_inactive = req.include_inactive and self.caller.is_admin
        allowed = await visible_patient_sources(self.db, self.caller)
        wanted = selection(req, allowed, include_inactive)
        try:
            found = await self.lister.list_patients(wanted)
        except Upstream:
            return PatientPage([], set(), None, fhir_ready=False)
        # With inactive records left out by the listing itself, none is on the page: asking
        # again would be one more statement on every list.
        inactive = set() if wanted.excluded is not None else await inactive_among(
            self.db, [str(p["id"]) for p in found.patients])
        # One row for the listing: per-patient rows would make a page cost 50 chain writes.
        await self.auditor.record("patient.list", "Patient", None)
        return PatientPage(found.patients, inactive, found.next_cursor)

    async def verify(self, patient_id: str) -> None:
        await self.visible_patient(patient_id)
        await self._audit("patient.verify", patient_id)

    async def read(self, patient_id: str) -> Resource:
        patient = await self.visible_patient(patient_id)
        await self._audit("patient.read", patient_id)
        return patient

    async def patch(self, patient_id: str, fields: PatientFields, if_match: str | None
                    ) -> Resource:
        current = await self.visible_patient(patient_id)
        version = _check_if_match(current, if_match)
        changed = apply_fields(current, fields, self.mrn_system)
        nhs = nhs_number_of(changed)
        if nhs is not None and nhs != nhs_number_of(current):
            await self._ensure_unique_nhs(nhs, patient_id)
            await self._claim_record(patient_id, nhs)
        updated = await self.fhir.update(changed, expected_version=version)
        await self._audit("patient.update", patient_id)
        return updated

    async def demographics(self, patient_id: str) -> Resource:
        patient = await self.visible_patient(patient_id)
        await self._audit("patient.demographics_read", patient_id)
        return patient

    async def put_demographics(self, patient_id: str, data: dict[str, Any]) -> Resource:
        current = await self.visible_patient(patient_id)
        changed = apply_demographics(current, data)
        updated = await self.fhir.update(changed, expected_version=version_of(current))
        await self._audit("patient.demographics_update", patient_id)
        return updated

    async def read_activation(self, patient_id: str) -> bool:
        """Whether the record is active, audited as a read of the patient's metadata."""
        await self.visible_patient(patient_id)
        await self._audit("patient.metadata_read", patient_id)
        record = await self.db.get(PatientRecord, patient_id)
        return True if record is None else record.is_active

    async def set_active(self, patient_id: str, active: bool) -> None:
        if not is_admin(self.caller.level):
            raise Forbidden("Admin privileges required")
        await existing_patient(self.fhir, patient_id)
        now = self.clock.now()
        record = await self.db.get(PatientRecord, patient_id)
        if record is None:
            self.db.add(PatientRecord(patient_id=patient_id, is_active=active, created_at=now,
                                      updated_at=now, updated_by=self.caller.user_id))
        else:
            record.is_active, record.updated_at = active, now
            record.updated_by = self.caller.user_id
        await self.db.flush()
        await self._audit("patient.activate" if active else "patient.deactivate", patient_id)

    async def shared_organisations(self, patient_id: str) -> list[Organisation]:
        """The caller's organisations that also hold this patient."""
        await self.visible_patient(patient_id)
        query = (select(Organisation)
                 .join(StaffMembership, StaffMembership.organisation_id == Organisation.id)
                 .join(PatientMembership, PatientMembership.organisation_id == Organisation.id)
                 .where(StaffMembership.user_id == self.caller.user_id,
                        PatientMembership.patient_id == patient_id)
                 .distinct().order_by(Organisation.id))
        found = list((await self.db.execute(query)).scalars().all())
        await self._audit("patient.organisations_read", patient_id)
        return found

    async def access_log(self, patient_id: str, *, limit: int, cursor: str | None
                         ) -> tuple[list[LogEntry], str | None]:
        """Admins and the patient themself may read it. Anyone else who cannot see the
        patient gets 404 (as everywhere); staff or external users who can see the patient
        get 403, because the log reveals colleagues' activity, which is not part of the
        clinical record."""
        if not (self.caller.is_admin or self.caller.fhir_patient_id == patient_id):
            await ensure_can_see_patient(self.db, self.caller, patient_id)
            raise Forbidden("Only an admin or the patient may read the access log")
        await existing_patient(self.fhir, patient_id)
        entries, more = await read_log(self.db, patient_id, limit=limit, cursor=cursor)
        await self._audit("patient.access_log_read", patient_id)
        return entries, more

    async def _ensure_unique_nhs(self, nhs_number: str, own_id: str | None) -> None:
        page = await self.fhir.search(
            "Patient", {"identifier": f"{NHS_NUMBER_SYSTEM}|{nhs_number}"}, count=2,
            total=False)
        if any(found.get("id") != own_id for found in page.resources):
            raise Conflict(DUPLICATE_NHS)

    async def _exists(self, patient_id: str) -> bool:
        try:
            await self.fhir.read("Patient", patient_id)
        except NotFound:
            return False
        return True

    async def _join_primary_organisation(self, patient_id: str) -> None:
        primary = (await self.db.execute(select(StaffMembership.organisation_id).where(
            StaffMembership.user_id == self.caller.user_id, StaffMembership.is_primary,
        ))).scalar_one_or_none()
        if primary is not None:
            self.db.add(PatientMembership(organisation_id=primary, patient_id=patient_id,
                                          is_primary=True, created_at=self.clock.now()))

    async def _claim_record(self, patient_id: str, nhs: str | None) -> None:
        """The patient_records row, written before FHIR: its unique NHS number turns a
        concurrent duplicate into a 409 before anything reaches the FHIR store."""
        now = self.clock.now()
        record = await self.db.get(PatientRecord, patient_id)
        try:
            async with self.db.begin_nested():
                if record is None:
                    self.db.add(PatientRecord(
                        patient_id=patient_id, is_active=True, nhs_number=nhs, created_at=now,
                        updated_at=now, updated_by=self.caller.user_id))
                else:
                    record.nhs_number, record.updated_at = nhs, now
                await self.db.flush()
        except IntegrityError:
            raise Conflict(DUPLICATE_NHS) from None
