"""Building and changing FHIR Patient resources from the API's flat fields."""

from __future__ import annotations

import copy
from dataclasses import dataclass
from typing import Any

from quill.errors import Unprocessable
from quill.fhir.port import Resource
from quill.patients.nhs_number import NHS_NUMBER_SYSTEM, is_valid_nhs_number, normalise

# The FHIR Patient elements PUT /demographics may set; identifiers go through create/PATCH
# so the NHS number is always validated and unique.
DEMOGRAPHIC_FIELDS = frozenset({
    "active", "name", "telecom", "gender", "birthDate", "deceasedBoolean",
    "deceasedDateTime", "address", "maritalStatus", "multipleBirthBoolean",
    "multipleBirthInteger", "contact", "communication", "photo",
})


@dataclass(frozen=True)
class PatientFields:
    """The flat fields of POST/PATCH /patients; None means "not given"."""

    given_name: str | None = None
    family_name: str | None = None
    birth_date: str | None = None
    gender: str | None = None
    nhs_number: str | None = None
    mrn: str | None = None


def checked_nhs_number(value: str) -> str:
    if not is_valid_nhs_number(value):
        raise Unprocessable({"message": "Invalid NHS number", "error_code": "invalid_nhs_number"})
    return normalise(value)


def nhs_number_of(patient: Resource) -> str | None:
    return _identifier(patient, NHS_NUMBER_SYSTEM)


def _identifier(patient: Resource, system: str) -> str | None:
    for ident in patient.get("identifier") or []:
        if isinstance(ident, dict) and ident.get("system") == system:
            value = ident.get("value")
            return value if isinstance(value, str) else None
    return None


def _set_identifier(patient: Resource, system: str, value: str) -> None:
    kept = [i for i in patient.get("identifier") or []
            if not (isinstance(i, dict) and i.get("system") == system)]
    patient["identifier"] = [*kept, {"system": system, "value": value}]


def _set_name(patient: Resource, given: str | None, family: str | None) -> None:
    names = patient.get("name") or []
    first: dict[str, Any] = dict(names[0]) if names and isinstance(names[0], dict) else {}
    first.setdefault("use", "official")
    if given is not None:
        first["given"] = [given]
    if family is not None:
        first["family"] = family
    patient["name"] = [first, *names[1:]]


def apply_fields(patient: Resource, fields: PatientFields, mrn_system: str) -> Resource:
    """A copy of ``patient`` with only the given fields changed."""
    out = copy.deepcopy(patient)
    if fields.given_name is not None or fields.family_name is not None:
        _set_name(out, fields.given_name, fields.family_name)
    if fields.birth_date is not None:
        out["birthDate"] = fields.birth_date
    if fields.gender is not None:
        out["gender"] = fields.gender
    if fields.nhs_number is not None:
        _set_identifier(out, NHS_NUMBER_SYSTEM, checked_nhs_number(fields.nhs_number))
    if fields.mrn is not None:
        _set_identifier(out, mrn_system, fields.mrn)
    return out


def new_patient(fields: PatientFields, mrn_system: str, patient_id: str | None) -> Resource:
    base: Resource = {"resourceType": "Patient", "active": True}
    if patient_id is not None:
        base["id"] = patient_id
    return apply_fields(base, fields, mrn_system)


def apply_demographics(patient: Resource, data: dict[str, Any]) -> Resource:
    unknown = sorted(set(data) - DEMOGRAPHIC_FIELDS)
    if unknown:
        raise Unprocessable({"message": f"Not demographic fields: {', '.join(unknown)[:200]}",
                             "error_code": "invalid_demographics"})
    out = copy.deepcopy(patient)
    out.update(copy.deepcopy(data))
    return out
