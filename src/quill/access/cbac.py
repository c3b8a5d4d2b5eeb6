"""Competency-based access: the catalogue (YAML package data) and each user's final set."""

from __future__ import annotations

from collections.abc import Iterable
from dataclasses import dataclass
from enum import StrEnum
from functools import cache
from importlib import resources
from typing import Any

import yaml

from quill.identity.caller import UserIdentity
from quill.identity.levels import PermissionLevel, is_admin, is_external, is_staff, parse_level
from quill.identity.models import User

NON_CLINICAL_CATEGORIES = frozenset({"administrative", "teaching"})
ALL_CLINICAL = "all_clinical"


class Competency(StrEnum):
    PRESCRIBE_NON_CONTROLLED = "prescribe_non_controlled"
    PRESCRIBE_CONTROLLED_SCHEDULE_2 = "prescribe_controlled_schedule_2"
    PRESCRIBE_CONTROLLED_SCHEDULE_3_4_5 = "prescribe_controlled_schedule_3_4_5"
    CERTIFY_DEATH = "certify_death"
    CERTIFY_CREMATION = "certify_cremation"
    CERTIFY_FITNESS_TO_WORK = "certify_fitness_to_work"
    CERTIFY_FITNESS_TO_DRIVE = "certify_fitness_to_drive"
    PERFORM_VENEPUNCTURE = "perform_venepuncture"
    PERFORM_CANNULATION = "perform_cannulation"
    PERFORM_LUMBAR_PUNCTURE = "perform_lumbar_puncture"
    PERFORM_CHEST_DRAIN = "perform_chest_drain"
    PERFORM_ADVANCED_AIRWAY = "perform_advanced_airway"
    DISCHARGE_WITHOUT_REVIEW = "discharge_without_review"
    ADMIT_PATIENT = "admit_patient"
    REFER_SPECIALTY = "refer_specialty"
    TAKE_INFORMED_CONSENT = "take_informed_consent"
    ASSESS_MENTAL_CAPACITY = "assess_mental_capacity"
    APPLY_DEPRIVATION_OF_LIBERTY = "apply_deprivation_of_liberty"
    REQUEST_PLAIN_XRAY = "request_plain_xray"
    REQUEST_CT_SCAN = "request_ct_scan"
    REQUEST_MRI_SCAN = "request_mri_scan"
    ACCESS_PATIENT_RECORDS = "access_patient_records"
    MODIFY_PATIENT_RECORDS = "modify_patient_records"
    ACCESS_CLINIC_ADMIN = "access_clinic_admin"
    APPROVE_CLINICAL_LETTERS = "approve_clinical_letters"
    MANAGE_USERS = "manage_users"
    MANAGE_DIABETES = "manage_diabetes"
    MANAGE_ANTICOAGULATION = "manage_anticoagulation"
    INTERPRET_ECG = "interpret_ecg"
    VIEW_TEACHING_CASES = "view_teaching_cases"
    MANAGE_TEACHING_CONTENT = "manage_teaching_content"
    VIEW_TEACHING_ANALYTICS = "view_teaching_analytics"


@dataclass(frozen=True)
class CompetencyInfo:
    id: str
    category: str
    risk: str
    description: str

    @property
    def is_clinical(self) -> bool:
        return self.category not in NON_CLINICAL_CATEGORIES


@dataclass(frozen=True)
class Profession:
    id: str
    name: str
    competencies: frozenset[str]


@dataclass(frozen=True)
class Catalogue:
    competencies: dict[str, CompetencyInfo]
    professions: dict[str, Profession]

    def unknown_competencies(self, ids: list[str]) -> list[str]:
        return [item for item in ids if item not in self.competencies]

    def is_high_risk(self, competency: str) -> bool:
        info = self.competencies.get(competency)
        return info is not None and info.risk == "high"


def _read_yaml(name: str) -> dict[str, Any]:
    text = resources.files("quill.access.data").joinpath(name).read_text(encoding="utf-8")
    data = yaml.safe_load(text)
    if not isinstance(data, dict):
        raise ValueError(f"{name} must be a mapping")
    return data


def _expand(pid: str, raw: dict[str, Any], comps: dict[str, CompetencyInfo]) -> frozenset[str]:
    entry = raw[pid]
    result: set[str] = set()
    for parent in entry.get("includes", []):
        result |= _expand(parent, raw, comps)
    for item in entry.get("competencies", []):
        if item == ALL_CLINICAL:
            result |= {c.id for c in comps.values()
                       if c.category != "teaching" and c.id != Competency.MANAGE_USERS}
        elif item in comps:
            result.add(item)
        else:
            raise ValueError(f"profession {pid} names unknown competency {item}")
    return frozenset(result - set(entry.get("excludes", [])))


@cache
def load_catalogue() -> Catalogue:
    """Read the YAML once per process; the data is immutable package content."""
    comps = {
        cid: CompetencyInfo(cid, str(v["category"]), str(v["risk"]), str(v["description"]))
        for cid, v in _read_yaml("competencies.yaml").items()
    }
    raw = _read_yaml("professions.yaml")
    professions = {
        pid: Profession(pid, str(entry["name"]), _expand(pid, raw, comps))
        for pid, entry in raw.items()
    }
    return Catalogue(comps, professions)


def final_competencies(
    base_profession: str, additional: Iterable[str], removed: Iterable[str]
) -> list[str]:
    """``(base | additional) - removed``, sorted for stable output."""
    catalogue = load_catalogue()
    profession = catalogue.professions.get(base_profession)
    base = profession.competencies if profession else frozenset()
    return sorted((set(base) | set(additional)) - set(removed))


def roles_for(level_value: str, competencies: list[str]) -> list[str]:
    """Display roles are derived from level and competencies, never stored."""
    level = parse_level(level_value) or PermissionLevel.PATIENT
    if level is PermissionLevel.PATIENT:
        return ["Patient"]
    if is_external(level):
        return ["External"]
    roles: list[str] = []
    catalogue = load_catalogue()
    if is_staff(level) and any(
        catalogue.competencies[c].is_clinical for c in competencies if c in catalogue.competencies
    ):
        roles.append("Clinician")
    if is_staff(level):
        roles.append("Staff")
    if is_admin(level):
        roles.append("Admin")
    return roles


def user_competencies(user: User | UserIdentity) -> list[str]:
    return final_competencies(user.base_profession, list(user.additional_competencies),
                              list(user.removed_competencies))
