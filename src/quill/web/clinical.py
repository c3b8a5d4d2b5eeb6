"""The clinical-services switch: clinical routes answer 503 when it is off.

Add ``dependencies=[Depends(require_clinical_services)]`` to a clinical router (or use
``ClinicalServices`` as a parameter). It runs before authentication, so the answer is
the same for every caller and says nothing about records.
"""

from __future__ import annotations

from typing import Annotated

from fastapi import Depends, Request

from quill.errors import ServiceDisabled
from quill.web.wiring import platform_of

DISABLED_DETAIL = "Clinical services are disabled"


async def require_clinical_services(request: Request) -> None:
    if not platform_of(request).settings.clinical_services_enabled:
        raise ServiceDisabled(DISABLED_DETAIL)


ClinicalServices = Annotated[None, Depends(require_clinical_services)]
