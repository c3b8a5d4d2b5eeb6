"""EHR endpoints: find by subject, create (with or without a subject), read by id."""

from __future__ import annotations

from typing import Annotated, Any

from fastapi import APIRouter, Header, Query, Request
from fastapi.responses import JSONResponse, Response

from quill.errors import Invalid
from quill.facades.openehr.common import (
    PREFIX,
    Store,
    optional_object,
    patient_of,
    wants_body,
)
from quill.facades.openehr.errors import OpenEhrRoute, error_response
from quill.letters.service import SUBJECT_NAMESPACE
from quill.openehr.embedded import DEFAULT_SYSTEM_ID
from quill.openehr.models import Ehr
from quill.openehr.port import format_time
from quill.web.deps import RequestAuditorDep

router = APIRouter(route_class=OpenEhrRoute, include_in_schema=False)


def ehr_json(ehr: Ehr) -> dict[str, Any]:
    return {
        "system_id": {"_type": "HIER_OBJECT_ID", "value": DEFAULT_SYSTEM_ID},
        "ehr_id": {"_type": "HIER_OBJECT_ID", "value": ehr.id},
        "ehr_status": {"id": {"_type": "OBJECT_VERSION_ID",
                              "value": f"{ehr.id}::{DEFAULT_SYSTEM_ID}::1"},
                       "namespace": "local", "type": "EHR_STATUS"},
        "time_created": {"_type": "DV_DATE_TIME", "value": format_time(ehr.created_at)},
    }


def _ehr_headers(ehr: Ehr) -> dict[str, str]:
    return {"ETag": f'"{ehr.id}"', "Location": f"{PREFIX}/ehr/{ehr.id}"}


@router.get("/ehr")
async def ehr_by_subject(
    store: Store, auditor: RequestAuditorDep,
    subject_id: Annotated[str | None, Query(max_length=128)] = None,
    subject_namespace: Annotated[str | None, Query(max_length=128)] = None,
) -> JSONResponse:
    if not subject_id or not subject_namespace:
        raise Invalid("subject_id and subject_namespace are required")
    ehr_id = await store.find_ehr(subject_id, subject_namespace)
    # Audited found or not: asking whether a patient has a record is itself a disclosure.
    # A miss is answered, not raised, so that the entry commits.
    await auditor.record("openehr.ehr_lookup", "EHR", ehr_id, patient_id=(
        subject_id if subject_namespace == SUBJECT_NAMESPACE else None))
    if ehr_id is None:
        return error_response(404, "No EHR for this subject")
    ehr = await store.ehr(ehr_id)
    return JSONResponse(ehr_json(ehr), headers={"ETag": f'"{ehr.id}"'})


@router.get("/ehr/{ehr_id}")
async def ehr_by_id(ehr_id: str, store: Store, auditor: RequestAuditorDep) -> JSONResponse:
    ehr = await store.ehr(ehr_id)
    await auditor.record("openehr.ehr_read", "EHR", ehr.id, patient_id=patient_of(ehr))
    return JSONResponse(ehr_json(ehr), headers=_ehr_headers(ehr))


def subject_of(status: dict[str, Any] | None) -> tuple[str | None, str | None]:
    """(subject id, namespace) of an EHR_STATUS; (None, None) when it names no subject.

    The spec's default EHR_STATUS has a PARTY_SELF subject without an external reference.
    """
    if status is None:
        return None, None
    if status.get("_type", "EHR_STATUS") != "EHR_STATUS":
        raise Invalid("Body must be an EHR_STATUS")
    subject = status.get("subject")
    if not isinstance(subject, dict):
        raise Invalid("EHR_STATUS needs a subject (a PARTY_SELF)")
    if subject.get("external_ref") is None:
        return None, None
    try:
        ref = subject["external_ref"]
        subject_id, namespace = ref["id"]["value"], ref["namespace"]
    except (KeyError, TypeError) as exc:
        raise Invalid("EHR_STATUS subject.external_ref needs id and namespace") from exc
    if not (isinstance(subject_id, str) and isinstance(namespace, str)
            and 0 < len(subject_id) <= 128 and 0 < len(namespace) <= 128):
        raise Invalid("subject id and namespace must be non-empty strings")
    return subject_id, namespace


@router.post("/ehr")
async def create_ehr(request: Request, store: Store, auditor: RequestAuditorDep,
                     prefer: Annotated[str | None, Header()] = None) -> Response:
    subject_id, namespace = subject_of(await optional_object(request))
    ehr = await store.ehr(await store.create_ehr(subject_id, namespace))
    await auditor.record("openehr.ehr_create", "EHR", ehr.id, patient_id=patient_of(ehr))
    if wants_body(prefer):
        return JSONResponse(ehr_json(ehr), status_code=201, headers=_ehr_headers(ehr))
    return Response(status_code=201, headers=_ehr_headers(ehr))
