"""The competency catalogue: enum and YAML agree, professions expand as documented."""

from __future__ import annotations

from importlib import resources

import pytest
import yaml

from quill.access.cbac import Competency, final_competencies, load_catalogue, roles_for

C = Competency
CLINICAL_NOT_TEACHING = set(Competency) - {
    C.VIEW_TEACHING_CASES, C.MANAGE_TEACHING_CONTENT, C.VIEW_TEACHING_ANALYTICS, C.MANAGE_USERS}
FY1 = {C.PERFORM_VENEPUNCTURE, C.PERFORM_CANNULATION, C.REQUEST_PLAIN_XRAY,
       C.ACCESS_PATIENT_RECORDS, C.MODIFY_PATIENT_RECORDS, C.CERTIFY_FITNESS_TO_WORK,
       C.REFER_SPECIALTY, C.TAKE_INFORMED_CONSENT, C.PRESCRIBE_NON_CONTROLLED}
FY2 = FY1 | {C.REQUEST_CT_SCAN, C.ADMIT_PATIENT, C.CERTIFY_DEATH, C.INTERPRET_ECG}
ST12 = FY2 | {C.PRESCRIBE_CONTROLLED_SCHEDULE_3_4_5, C.PERFORM_LUMBAR_PUNCTURE,
              C.ASSESS_MENTAL_CAPACITY, C.CERTIFY_FITNESS_TO_DRIVE}
ST3 = ST12 | {C.PRESCRIBE_CONTROLLED_SCHEDULE_2, C.PERFORM_CHEST_DRAIN,
              C.DISCHARGE_WITHOUT_REVIEW, C.REQUEST_MRI_SCAN, C.CERTIFY_CREMATION,
              C.APPROVE_CLINICAL_LETTERS, C.MANAGE_ANTICOAGULATION}
NURSE = {C.PERFORM_VENEPUNCTURE, C.PERFORM_CANNULATION, C.ACCESS_PATIENT_RECORDS,
         C.MODIFY_PATIENT_RECORDS, C.REFER_SPECIALTY}
TEACHING = {C.VIEW_TEACHING_CASES, C.MANAGE_TEACHING_CONTENT, C.VIEW_TEACHING_ANALYTICS}

EXPECTED: dict[str, set[Competency]] = {
    "patient": set(), "external_hcp": set(), "patient_advocate": set(),
    "learner": {C.VIEW_TEACHING_CASES},
    "foundation_year_1": FY1, "foundation_year_2": FY2,
    "specialty_trainee_1_2": ST12, "specialty_trainee_3_plus": ST3,
    "consultant": CLINICAL_NOT_TEACHING,
    "general_practitioner": CLINICAL_NOT_TEACHING - {
        C.PERFORM_LUMBAR_PUNCTURE, C.PERFORM_CHEST_DRAIN, C.PERFORM_ADVANCED_AIRWAY},
    "registered_nurse": NURSE,
    "advanced_nurse_practitioner": NURSE | {
        C.PRESCRIBE_NON_CONTROLLED, C.PRESCRIBE_CONTROLLED_SCHEDULE_3_4_5, C.REQUEST_PLAIN_XRAY,
        C.ADMIT_PATIENT, C.DISCHARGE_WITHOUT_REVIEW, C.INTERPRET_ECG},
    "healthcare_assistant": {C.PERFORM_VENEPUNCTURE, C.ACCESS_PATIENT_RECORDS},
    "pharmacist": {C.PRESCRIBE_NON_CONTROLLED, C.PRESCRIBE_CONTROLLED_SCHEDULE_2,
                   C.PRESCRIBE_CONTROLLED_SCHEDULE_3_4_5, C.MANAGE_ANTICOAGULATION,
                   C.ACCESS_PATIENT_RECORDS},
    "pharmacy_technician": {C.ACCESS_PATIENT_RECORDS},
    "physiotherapist": {C.ACCESS_PATIENT_RECORDS, C.MODIFY_PATIENT_RECORDS, C.REFER_SPECIALTY,
                        C.REQUEST_PLAIN_XRAY},
    "occupational_therapist": {C.ACCESS_PATIENT_RECORDS, C.MODIFY_PATIENT_RECORDS,
                               C.REFER_SPECIALTY},
    "paramedic": {C.PERFORM_VENEPUNCTURE, C.PERFORM_CANNULATION, C.PERFORM_ADVANCED_AIRWAY,
                  C.ACCESS_PATIENT_RECORDS, C.MODIFY_PATIENT_RECORDS},
    "medical_secretary": {C.ACCESS_PATIENT_RECORDS, C.ACCESS_CLINIC_ADMIN},
    "receptionist": {C.ACCESS_PATIENT_RECORDS, C.ACCESS_CLINIC_ADMIN},
    "clinic_manager": {C.ACCESS_PATIENT_RECORDS, C.ACCESS_CLINIC_ADMIN, C.MANAGE_USERS},
    "system_administrator": {C.MANAGE_USERS, C.ACCESS_CLINIC_ADMIN},
    "teaching_delegate": {C.VIEW_TEACHING_CASES},
    "teaching_clinical_lead": TEACHING,
    "teaching_admin": TEACHING,
}

RISK = {
    "high": {C.PRESCRIBE_CONTROLLED_SCHEDULE_2, C.CERTIFY_DEATH, C.CERTIFY_CREMATION,
             C.PERFORM_LUMBAR_PUNCTURE, C.PERFORM_CHEST_DRAIN, C.PERFORM_ADVANCED_AIRWAY,
             C.DISCHARGE_WITHOUT_REVIEW, C.ASSESS_MENTAL_CAPACITY,
             C.APPLY_DEPRIVATION_OF_LIBERTY, C.MANAGE_USERS, C.MANAGE_ANTICOAGULATION,
             C.INTERPRET_ECG},
    "low": {C.CERTIFY_FITNESS_TO_WORK, C.PERFORM_VENEPUNCTURE, C.PERFORM_CANNULATION,
            C.REFER_SPECIALTY, C.REQUEST_PLAIN_XRAY, C.REQUEST_MRI_SCAN,
            C.ACCESS_PATIENT_RECORDS, C.ACCESS_CLINIC_ADMIN, C.VIEW_TEACHING_CASES,
            C.VIEW_TEACHING_ANALYTICS},
}


def _yaml_ids() -> set[str]:
    text = resources.files("quill.access.data").joinpath("competencies.yaml").read_text("utf-8")
    return set(yaml.safe_load(text))


def test_every_enum_member_is_in_the_yaml() -> None:
    missing = {c.value for c in Competency} - _yaml_ids()
    assert not missing


def test_every_yaml_competency_is_in_the_enum() -> None:
    missing = _yaml_ids() - {c.value for c in Competency}
    assert not missing


def test_professions_are_exactly_the_documented_ones() -> None:
    assert set(load_catalogue().professions) == set(EXPECTED)


@pytest.mark.parametrize("profession", sorted(EXPECTED))
def test_profession_expands_to_the_documented_set(profession: str) -> None:
    got = load_catalogue().professions[profession].competencies
    assert got == {str(c) for c in EXPECTED[profession]}


@pytest.mark.parametrize("risk", ["high", "low"])
def test_risk_levels_match_the_catalogue(risk: str) -> None:
    got = {c.id for c in load_catalogue().competencies.values() if c.risk == risk}
    assert got == {str(c) for c in RISK[risk]}


def test_final_is_base_plus_additional_minus_removed() -> None:
    final = final_competencies("registered_nurse", ["interpret_ecg"], ["perform_cannulation"])
    assert "interpret_ecg" in final
    assert "perform_cannulation" not in final
    assert "perform_venepuncture" in final
    assert final == sorted(final)


def test_removed_wins_over_additional() -> None:
    assert "interpret_ecg" not in final_competencies("patient", ["interpret_ecg"],
                                                     ["interpret_ecg"])


@pytest.mark.parametrize(("level", "profession", "roles"), [
    ("patient", "consultant", ["Patient"]),
    ("external_hcp", "external_hcp", ["External"]),
    ("staff", "receptionist", ["Staff"]),
    ("staff", "registered_nurse", ["Clinician", "Staff"]),
    ("admin", "system_administrator", ["Staff", "Admin"]),
    ("superadmin", "consultant", ["Clinician", "Staff", "Admin"]),
])
def test_roles_are_derived(level: str, profession: str, roles: list[str]) -> None:
    assert roles_for(level, final_competencies(profession, [], [])) == roles


CATEGORIES = {
    "prescribing": {C.PRESCRIBE_NON_CONTROLLED, C.PRESCRIBE_CONTROLLED_SCHEDULE_2,
                    C.PRESCRIBE_CONTROLLED_SCHEDULE_3_4_5},
    "certification": {C.CERTIFY_DEATH, C.CERTIFY_CREMATION, C.CERTIFY_FITNESS_TO_WORK,
                      C.CERTIFY_FITNESS_TO_DRIVE},
    "procedures": {C.PERFORM_VENEPUNCTURE, C.PERFORM_CANNULATION, C.PERFORM_LUMBAR_PUNCTURE,
                   C.PERFORM_CHEST_DRAIN, C.PERFORM_ADVANCED_AIRWAY},
    "patient_management": {C.DISCHARGE_WITHOUT_REVIEW, C.ADMIT_PATIENT, C.REFER_SPECIALTY},
    "consent": {C.TAKE_INFORMED_CONSENT, C.ASSESS_MENTAL_CAPACITY,
                C.APPLY_DEPRIVATION_OF_LIBERTY},
    "diagnostics": {C.REQUEST_PLAIN_XRAY, C.REQUEST_CT_SCAN, C.REQUEST_MRI_SCAN},
    "administrative": {C.ACCESS_PATIENT_RECORDS, C.MODIFY_PATIENT_RECORDS,
                       C.ACCESS_CLINIC_ADMIN, C.APPROVE_CLINICAL_LETTERS, C.MANAGE_USERS},
    "specialty": {C.MANAGE_DIABETES, C.MANAGE_ANTICOAGULATION, C.INTERPRET_ECG},
    "teaching": TEACHING,
}


@pytest.mark.parametrize("category", sorted(CATEGORIES))
def test_categories_match_the_catalogue(category: str) -> None:
    got = {c.id for c in load_catalogue().competencies.values() if c.category == category}
    assert got == {str(c) for c in CATEGORIES[category]}
