"""Role by page: what every kind of caller gets from every page. The one table.

Like the API's authorization matrix (tests/access/test_authorization_matrix.py), each
row names a page (a path with ``str.format`` fields from tests.access.world.World.ids),
a method, an optional form, and the status each kind of caller gets. Pages answer as the
API would (403 for a role the API refuses, 404 for what the caller may not know of); a
signed-out visitor is sent to sign in (303). Add the rows for new pages here.

Rows run in order in one world per role, so a mutating row may change what later rows
see: put a row that removes or deactivates something after those that need it.
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass
from typing import Any

KINDS = ("anonymous", "patient", "external", "staff_same", "staff_other", "admin",
         "superadmin")
Ids = dict[str, Any]
Form = Callable[[Ids], dict[str, Any]]
SIGN_IN = 303


@dataclass(frozen=True)
class PageRow:
    method: str
    path: str
    expected: dict[str, int]
    form: Form | None = None

    @property
    def name(self) -> str:
        return f"{self.method} {self.path}"


def admins(admin: int, superadmin: int | None = None) -> dict[str, int]:
    """An administrator page: 403 below admin (the API's ``require_admin``)."""
    return {"anonymous": SIGN_IN, "patient": 403, "external": 403, "staff_same": 403,
            "staff_other": 403, "admin": admin,
            "superadmin": admin if superadmin is None else superadmin}


ADMIN_PAGE = admins(200)
ADMIN_FORM = admins(303)
USER = "/admin/users/{staff_same}"
ORG = "/admin/organisations/{org_a}"

ROWS: list[PageRow] = [
    PageRow("GET", "/admin", ADMIN_PAGE),
    PageRow("GET", "/admin/users", ADMIN_PAGE),
    PageRow("GET", "/admin/users?q={prefix}", ADMIN_PAGE),
    PageRow("GET", "/admin/users/new", ADMIN_PAGE),
    PageRow("GET", USER, ADMIN_PAGE),
    PageRow("GET", "/admin/users/{superadmin}", ADMIN_PAGE),
    PageRow("GET", "/admin/users/2147483000", admins(404)),
    PageRow("GET", "/admin/organisations", ADMIN_PAGE),
    PageRow("GET", ORG, ADMIN_PAGE),
    PageRow("GET", "/admin/organisations/2147483000", admins(404)),
    PageRow("GET", "/admin/patients", ADMIN_PAGE),
    PageRow("GET", "/admin/patients?show=active&q={prefix}", ADMIN_PAGE),
    PageRow("GET", "/admin/patients/nhs-number-check?nhs_number=943", ADMIN_PAGE),
    PageRow("GET", "/admin/audit", ADMIN_PAGE),
    PageRow("GET", "/admin/audit?patient_id={patient_a}", ADMIN_PAGE),
    PageRow("GET", "/admin/audit?user={prefix}admin", ADMIN_PAGE),
    # Users: the level rules are the users service's (only a superadmin makes admins).
    PageRow("POST", "/admin/users", ADMIN_FORM, lambda ids: {
        "name": "New Nurse", "email": f"{ids['prefix']}new-nurse@example.org",
        "password": "long enough password", "base_profession": "registered_nurse",
        "system_permissions": "staff"}),
    PageRow("POST", "/admin/users", admins(403, 303), lambda ids: {
        "name": "New Admin", "email": f"{ids['prefix']}new-admin@example.org",
        "password": "long enough password", "base_profession": "system_administrator",
        "system_permissions": "admin"}),
    PageRow("POST", "/admin/users/new", ADMIN_PAGE, lambda ids: {
        "base_profession": "registered_nurse", "additional": ["interpret_ecg"]}),
    PageRow("POST", "/admin/users/{superadmin}", admins(403, 303), lambda ids: {
        "name": "Renamed", "username": f"{ids['prefix']}superadmin",
        "email": f"{ids['prefix']}superadmin@example.org",
        "system_permissions": "superadmin", "base_profession": "system_administrator"}),
    PageRow("POST", USER + "/competencies/preview", ADMIN_PAGE,
            lambda ids: {"additional": ["interpret_ecg"]}),
    PageRow("POST", USER + "/competencies", ADMIN_FORM,
            lambda ids: {"additional": ["interpret_ecg"]}),
    PageRow("POST", "/admin/users/{external}/link-patient", ADMIN_FORM,
            lambda ids: {"fhir_patient_id": ids["patient_loose"]}),
    PageRow("POST", USER + "/password", ADMIN_FORM, lambda ids: {
        "new_password": "another long password", "confirm_password": "another long password"}),
    # Organisations
    PageRow("POST", "/admin/organisations", ADMIN_FORM,
            lambda ids: {"name": "New Ward", "type": "hospital_team", "location": ""}),
    PageRow("POST", ORG, ADMIN_FORM,
            lambda ids: {"name": "Org A renamed", "type": "gp_practice", "location": "Leeds"}),
    PageRow("POST", ORG + "/staff", ADMIN_FORM,
            lambda ids: {"username": f"{ids['prefix']}staff_other", "is_primary": "true"}),
    PageRow("POST", ORG + "/features/letters", ADMIN_FORM, lambda ids: {"enabled": "true"}),
    PageRow("POST", ORG + "/patients", ADMIN_FORM,
            lambda ids: {"patient_id": ids["patient_loose"]}),
    PageRow("POST", ORG + "/patients/{patient_loose}/remove", ADMIN_FORM),
    PageRow("POST", ORG + "/staff/{staff_other}/remove", ADMIN_FORM),
    # Patients (admin)
    PageRow("POST", "/admin/patients", ADMIN_FORM,
            lambda ids: {"given_name": "New", "family_name": "Patient", "nhs_number": ""}),
    PageRow("POST", "/admin/patients/{patient_a}/activation", ADMIN_FORM,
            lambda ids: {"is_active": "false"}),
    # Last: it ends staff_same's sessions.
    PageRow("POST", USER + "/activation", ADMIN_FORM, lambda ids: {"is_active": "false"}),
]
