"""Role by page: what every kind of person gets from every page. The one table.

The pages' counterpart of the API's authorization matrix
(tests/access/test_authorization_matrix.py): a row per page, and per form a page posts,
naming a method, a path (``str.format`` fields from ``PageWorld.ids``), an optional form
and the status each kind of person gets. Pages answer as the API would for the same
service call: 200 (a form's success: 303), 404 where the API hides that a record exists,
403 where it refuses an action on something the person may see. A signed-out visitor is
sent to sign in (303). Add the rows for new pages here.

Rows run in order in one world per role, so a mutating row may change what later rows
see: put a row that removes or deactivates something after those that need it (the
administrator's rows come last for that reason).
"""

from __future__ import annotations

from collections.abc import Callable, Mapping
from dataclasses import dataclass
from typing import Any

from fastapi import FastAPI

from quill.access.models import ExternalGrant
from tests.access.world import build_world
from tests.helpers import make_user, runtime_of

# The world's kinds (tests/access/world.py) and two of the pages' own: a patient account
# not yet linked to a record, and a relative holding a grant for patient A (the patient's
# own record, so the patient may withdraw it).
ROLES = ("anonymous", "patient", "unlinked", "relative", "external", "staff_same",
         "staff_other", "admin", "superadmin")
SIGNED_IN_ROLES = ROLES[1:]
TO_SIGN_IN = 303
Ids = dict[str, Any]
Form = Callable[[Ids], dict[str, Any]]


def everyone(status: int, *, anonymous: int = TO_SIGN_IN, **others: int
             ) -> dict[str, int]:
    """``status`` for every signed-in role, with exceptions by role."""
    return {"anonymous": anonymous, **dict.fromkeys(SIGNED_IN_ROLES, status), **others}


def admins(admin: int, superadmin: int | None = None) -> dict[str, int]:
    """An administrator page: 403 below admin (the API's ``require_admin``)."""
    return everyone(403, admin=admin, superadmin=admin if superadmin is None else superadmin)


# Patient A: the patient user's own record, the relative's grant, staff_same's organisation;
# the external user's grant for A is revoked. Patient B: the external user's active grant,
# staff_other's organisation.
SEE_A = everyone(404, patient=200, relative=200, staff_same=200, admin=200, superadmin=200)
SEE_B = everyone(404, external=200, staff_other=200, admin=200, superadmin=200)
ADMIN_PAGE = admins(200)
ADMIN_FORM = admins(303)
USER = "/admin/users/{staff_same}"
ORG = "/admin/organisations/{org_a}"


@dataclass(frozen=True)
class PageRow:
    method: str
    path: str
    expected: Mapping[str, int]
    form: Form | None = None

    @property
    def name(self) -> str:
        return f"{self.method} {self.path}"


ROWS: list[PageRow] = [
    # Foundation
    PageRow("GET", "/", everyone(200)),
    PageRow("GET", "/account", everyone(200)),
    PageRow("GET", "/sign-in", everyone(200, anonymous=200)),
    PageRow("GET", "/threads", everyone(200)),
    PageRow("GET", "/account/notifications", everyone(200)),
    # Patients: the list is everyone's, filtered by the same policy as GET /api/patients;
    # one patient's pages are 404 to whoever may not see them (the API's SEE_A / SEE_B).
    PageRow("GET", "/patients", everyone(200)),
    PageRow("GET", "/patients/{patient_a}", SEE_A),
    PageRow("GET", "/patients/{patient_b}", SEE_B),
    PageRow("GET", "/patients/{patient_loose}", everyone(404, admin=200, superadmin=200)),
    PageRow("GET", "/patients/{patient_a}/letters", SEE_A),
    # Joining (public)
    PageRow("GET", "/register", everyone(200, anonymous=200)),
    PageRow("GET", "/accept-invite?token=not-a-real-token", everyone(400, anonymous=400)),
    PageRow("POST", "/accept-invite", everyone(400, anonymous=400),
            lambda ids: {"token": "not-a-real-token"}),
    # A patient's own record: only for an account linked to one. A patient account not yet
    # linked is told so; anyone else has no record here.
    PageRow("GET", "/my-record", everyone(404, patient=200, unlinked=200)),
    PageRow("GET", "/my-record/access", everyone(404, patient=200)),
    PageRow("GET", "/my-record/letters/no-such-letter", everyone(404)),
    PageRow("POST", "/my-record/access/{relative}/withdraw", everyone(404, patient=303)),
    PageRow("POST", "/my-record/access/{external}/withdraw", everyone(404)),
    # Administration
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


@dataclass
class PageWorld:
    ids: Ids
    user_ids: dict[str, int]
    usernames: dict[str, str]


async def build_page_world(app: FastAPI, prefix: str) -> PageWorld:
    """tests/access's world (patient A linked to the patient user, the external user's
    grant for B active and for A revoked) plus the unlinked patient and the relative."""
    world = await build_world(app, prefix=prefix, headers=False)
    unlinked = await make_user(app, f"{prefix}unlinked")
    relative = await make_user(app, f"{prefix}relative", level="patient_advocate",
                               profession="patient_advocate")
    runtime = runtime_of(app)
    async with runtime.session_factory() as db, db.begin():
        db.add(ExternalGrant(user_id=relative.id, patient_id=world.patient_a,
                             user_type="patient_advocate", granted_at=runtime.clock.now(),
                             revoked_at=None))
    user_ids = {kind: user.id for kind, user in world.users.items()}
    user_ids |= {"unlinked": unlinked.id, "relative": relative.id}
    usernames = {kind: user.username for kind, user in world.users.items()}
    usernames |= {"unlinked": unlinked.username, "relative": relative.username}
    return PageWorld(ids={**world.ids, **user_ids}, user_ids=user_ids, usernames=usernames)
