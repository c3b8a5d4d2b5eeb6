"""A FHIR Patient as the pages show it: names, date of birth, sex, NHS number, version.

Only reading: every rule about what a Patient may hold stays in quill.patients.
"""

from __future__ import annotations

from dataclasses import dataclass
from datetime import date
from typing import Any

from quill.fhir.port import Resource, version_of
from quill.patients.resource import nhs_number_of

GENDERS = {"female": "Female", "male": "Male", "other": "Other", "unknown": "Unknown"}


def _official_name(patient: Resource) -> dict[str, Any]:
    names = [n for n in patient.get("name") or [] if isinstance(n, dict)]
    official = [n for n in names if n.get("use") == "official"]
    return (official or names or [{}])[0]


def uk_birth_date(value: str | None) -> str:
    """A FHIR date (``1980-03-12``, or only a year or month) as ``12 Mar 1980``."""
    if not value:
        return ""
    try:
        if len(value) == 10:
            day = date.fromisoformat(value)
            return f"{day.day} {day:%b %Y}"
        if len(value) == 7:
            return f"{date.fromisoformat(value + '-01'):%b %Y}"
    except ValueError:
        pass
    return value


@dataclass(frozen=True)
class PatientView:
    id: str
    given_name: str
    family_name: str
    birth_date: str  # as stored (ISO), for the form's date input
    gender: str
    nhs_number: str
    version: str

    @classmethod
    def of(cls, patient: Resource) -> PatientView:
        name = _official_name(patient)
        given = name.get("given") or []
        birth = patient.get("birthDate")
        gender = patient.get("gender")
        return cls(
            id=str(patient.get("id", "")),
            given_name=" ".join(str(g) for g in given) if isinstance(given, list) else "",
            family_name=str(name.get("family") or ""),
            birth_date=birth if isinstance(birth, str) else "",
            gender=gender if isinstance(gender, str) else "",
            nhs_number=nhs_number_of(patient) or "",
            version=version_of(patient) or "",
        )

    @property
    def display_name(self) -> str:
        """``SURNAME, Given``, the way UK clinical systems list patients."""
        if self.family_name and self.given_name:
            return f"{self.family_name.upper()}, {self.given_name}"
        return self.family_name.upper() or self.given_name or "Name not recorded"

    @property
    def birth_date_text(self) -> str:
        return uk_birth_date(self.birth_date)

    @property
    def gender_text(self) -> str:
        return GENDERS.get(self.gender, self.gender)
