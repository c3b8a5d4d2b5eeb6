"""The audit view: whether the chain is intact, and the latest entries by user or patient.

The audit-log service (the same one behind ``/api/audit``) re-checks the newest entries
with the verification code of ``quill verify-audit``, bounded to a window so the page
stays fast; the page says which entries that covered and which checkpoint it used.
"""

from __future__ import annotations

from typing import Annotated

from fastapi import APIRouter, Query
from starlette.responses import Response

from quill.auditlog.router import get_service as get_audit_service
from quill.fhir.port import is_valid_id
from quill.web.keyset import CursorQuery
from quill.webapp.pages.admin import PAGE_SIZE, AdminPage, user_named
from quill.webapp.rendering import render

router = APIRouter(include_in_schema=False)

NO_SUCH_USER = "No user has that username"
BAD_PATIENT_ID = "A patient id has only letters, digits, '-' and '.'"


@router.get("/admin/audit")
async def audit(page: AdminPage, user: Annotated[str, Query(max_length=150)] = "",
                patient_id: Annotated[str, Query(max_length=64)] = "",
                cursor: CursorQuery = None) -> Response:
    service = await page.service(get_audit_service)
    state = await service.chain_state()
    errors: dict[str, str] = {}
    actor = await user_named(page, user) if user.strip() else None
    if user.strip() and actor is None:
        errors["user"] = NO_SUCH_USER
    patient = patient_id.strip() or None
    if patient is not None and not is_valid_id(patient):
        errors["patient_id"] = BAD_PATIENT_ID
    entries, next_cursor = [], None
    if not errors:
        listing = await service.entries(actor_id=actor.id if actor else None,
                                        patient_id=patient, limit=PAGE_SIZE, cursor=cursor)
        entries, next_cursor = listing.entries, listing.next_cursor
    return render(page.request, "admin/audit.html", {
        "state": state, "entries": entries, "next_cursor": next_cursor,
        "first_page": cursor is None, "user": user, "patient_id": patient_id,
        "errors": errors,
    }, status_code=400 if errors else 200)
