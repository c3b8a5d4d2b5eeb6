"""The patient list: search by name prefix or NHS number, a page at a time.

The same PatientService.list_patients as GET /api/patients, so visibility is filtered
inside the store's query and the listing is audited the same way.
"""

from __future__ import annotations

from typing import Annotated
from urllib.parse import urlencode

from fastapi import APIRouter, Depends, Query
from starlette.responses import Response

from quill.patients.listing import ListRequest
from quill.patients.router import get_service as get_patient_service
from quill.web.clinical import require_clinical_services
from quill.webapp.pages.patient_view import PatientView
from quill.webapp.rendering import render
from quill.webapp.security import SignedIn

router = APIRouter(include_in_schema=False, dependencies=[Depends(require_clinical_services)])

PAGE_SIZE = 25
SearchQuery = Annotated[str, Query(max_length=200)]
# Roomy, as the API's: against an external server the cursor wraps its next-page link.
CursorQuery = Annotated[str | None, Query(max_length=4000)]


@router.get("/patients")
async def patient_list(page: SignedIn, q: SearchQuery = "", cursor: CursorQuery = None
                       ) -> Response:
    service = await page.service(get_patient_service)
    search = q.strip()
    found = await service.list_patients(ListRequest(
        limit=PAGE_SIZE, cursor=cursor or None, q=search or None, include_inactive=False,
        admin_scope=False))
    next_page = None
    if found.next_cursor is not None:
        next_page = "/patients?" + urlencode({"q": search, "cursor": found.next_cursor}
                                             if search else {"cursor": found.next_cursor})
    return render(page.request, "patients/list.html", {
        "q": search, "patients": [PatientView.of(p) for p in found.patients],
        "fhir_ready": found.fhir_ready, "next_page": next_page,
        "first_page": bool(cursor),
    })
