"""Role by page: every page, every kind of person, the status the page answers.

The pages' counterpart of the API's authorization matrix (tests/access): one table, a
row per page (and per form a page posts). Allowed pages answer 200 (a form's success, a
303); the others answer as the API would for the same service call, 404 where the API
hides a record's existence and 403 where it refuses an action on something the person may
see. A signed-out visitor is sent to sign in (303). Each row gets its own world, so one
cell's change (a withdrawn grant) never changes another row's answer.

Path templates take str.format fields from ``PageWorld.ids``.
"""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass, field

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


def everyone(status: int, *, anonymous: int = TO_SIGN_IN, **others: int
             ) -> dict[str, int]:
    """``status`` for every signed-in role, with exceptions by role."""
    return {"anonymous": anonymous, **dict.fromkeys(SIGNED_IN_ROLES, status), **others}


# Patient A: the patient user's own record, the relative's grant, staff_same's organisation;
# the external user's grant for A is revoked. Patient B: the external user's active grant,
# staff_other's organisation.
SEE_A = everyone(404, patient=200, relative=200, staff_same=200, admin=200, superadmin=200)
SEE_B = everyone(404, external=200, staff_other=200, admin=200, superadmin=200)


@dataclass(frozen=True)
class PageRow:
    method: str
    path: str
    expected: Mapping[str, int]
    form: Mapping[str, str] = field(default_factory=dict)

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
            {"token": "not-a-real-token"}),
    # A patient's own record: only for an account linked to one. A patient account not yet
    # linked is told so; anyone else has no record here.
    PageRow("GET", "/my-record", everyone(404, patient=200, unlinked=200)),
    PageRow("GET", "/my-record/access", everyone(404, patient=200)),
    PageRow("GET", "/my-record/letters/no-such-letter", everyone(404)),
    PageRow("POST", "/my-record/access/{relative}/withdraw", everyone(404, patient=303)),
    PageRow("POST", "/my-record/access/{external}/withdraw", everyone(404)),
]


@dataclass
class PageWorld:
    ids: dict[str, object]
    user_ids: dict[str, int]


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
    return PageWorld(ids={**world.ids, **user_ids}, user_ids=user_ids)
