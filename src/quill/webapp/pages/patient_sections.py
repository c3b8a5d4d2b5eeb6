"""The parts of the patient page besides demographics, each from the API's own service.

Who may see a part is decided by that service, never here: a part the service refuses
(Forbidden) is left off the page, so the page shows exactly what the API would answer.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Generic, TypeVar

from quill.access.models import ExternalGrant
from quill.errors import Forbidden
from quill.external_access.router import get_service as get_external_access_service
from quill.identity.models import User
from quill.letters.router import get_service as get_letter_service
from quill.messaging.router import get_service as get_messaging_service
from quill.messaging.service import ThreadSummary
from quill.openehr.port import CompositionSummary
from quill.patients.access_log import LogEntry
from quill.patients.router import get_service as get_patient_service
from quill.prescriptions.router import get_service as get_prescription_service
from quill.prescriptions.router import require_prescriber
from quill.prescriptions.service import PrescriptionService, PrescriptionSummary
from quill.webapp.forms import message_of
from quill.webapp.security import Page

# How much of each list the patient page shows; letters page on at /letters.
LETTERS_SHOWN = 10
THREADS_SHOWN = 20
PRESCRIPTIONS_SHOWN = 20
ACCESS_LOG_SHOWN = 20
T = TypeVar("T")


@dataclass(frozen=True)
class Listing(Generic[T]):
    items: list[T]
    more: bool


@dataclass(frozen=True)
class ExternalAccess:
    """The people with access from outside (when the caller may manage it), else why not."""

    grants: list[tuple[ExternalGrant, User]] | None
    refusal: str = ""


async def letters(page: Page, patient_id: str, *, limit: int = LETTERS_SHOWN,
                  cursor: str | None = None) -> tuple[list[CompositionSummary], str | None]:
    service = await page.service(get_letter_service)
    found = await service.page(patient_id, limit=limit, cursor=cursor)
    return found.items, found.next_cursor


async def threads(page: Page, patient_id: str) -> Listing[ThreadSummary]:
    service = await page.service(get_messaging_service)
    found = await service.list_for_patient(patient_id, status=None, limit=THREADS_SHOWN,
                                           cursor=None)
    return Listing(found.threads, found.next_cursor is not None)


async def prescription_service(page: Page) -> PrescriptionService:
    """The API's factory takes the patient service as a dependency; built the same way."""
    patients = await page.service(get_patient_service)
    return await get_prescription_service(request=page.request, db=page.db,
                                          caller=page.caller, auditor=page.auditor,
                                          patients=patients)


async def may_prescribe(page: Page) -> bool:
    try:
        await require_prescriber(page.caller)
    except Forbidden:
        return False
    return True


async def prescriptions(page: Page, patient_id: str) -> list[PrescriptionSummary] | None:
    """None for a caller without the competency: the part is not shown."""
    if not await may_prescribe(page):
        return None
    service = await prescription_service(page)
    return await service.list_controlled(patient_id, limit=PRESCRIPTIONS_SHOWN)


async def access_log(page: Page, patient_id: str) -> Listing[LogEntry] | None:
    service = await page.service(get_patient_service)
    try:
        entries, more = await service.access_log(patient_id, limit=ACCESS_LOG_SHOWN,
                                                 cursor=None)
    except Forbidden:
        return None
    return Listing(entries, more is not None)


async def external_access(page: Page, patient_id: str) -> ExternalAccess:
    service = await page.service(get_external_access_service)
    try:
        return ExternalAccess(await service.active_grants(patient_id))
    except Forbidden as refused:
        return ExternalAccess(None, message_of(refused))
