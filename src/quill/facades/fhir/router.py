"""The /fhir facade: an R4 REST subset over whichever FhirStore the platform holds."""

from __future__ import annotations

import hmac
import json
from email.utils import format_datetime
from typing import Annotated, Any
from urllib.parse import urlencode

from fastapi import APIRouter, Depends, Request
from fastapi.responses import Response

from quill.auth.deps import resolve_caller
from quill.errors import Invalid, NotFound, QuillError, Unauthenticated
from quill.facades.fhir.bundles import (
    history_bundle,
    parse_transaction,
    search_bundle,
    transaction_bundle,
)
from quill.facades.fhir.capability import capability_statement
from quill.facades.fhir.outcome import FhirResponse, FhirRoute
from quill.fhir.port import FhirStore, Resource, etag, parse_etag, split_reference
from quill.fhir.searchparams import date_range
from quill.fhir.validation import check_type
from quill.web.deps import DbSession, RequestAuditorDep
from quill.web.wiring import platform_of

MAX_BODY_BYTES = 1_000_000


async def require_fhir_access(request: Request, db: DbSession) -> None:
    """An admin session or the service token; anything else is 401 (and sees nothing)."""
    expected = platform_of(request).settings.service_token
    scheme, _, presented = request.headers.get("authorization", "").partition(" ")
    if expected and scheme.lower() == "bearer" and hmac.compare_digest(
            presented.strip().encode(), expected.encode()):
        return
    try:
        caller = await resolve_caller(request, db)
    except QuillError as exc:
        raise Unauthenticated("Admin session or service token required",
                              headers={"WWW-Authenticate": "Bearer"}) from exc
    if not caller.is_admin:
        raise Unauthenticated("Admin session or service token required",
                              headers={"WWW-Authenticate": "Bearer"})


router = APIRouter(prefix="/fhir", route_class=FhirRoute, include_in_schema=False,
                   dependencies=[Depends(require_fhir_access)])


async def get_store(request: Request, db: DbSession) -> FhirStore:
    """The platform's FHIR store, bound to the request's unit of work."""
    return platform_of(request).fhir.store(db)


Store = Annotated[FhirStore, Depends(get_store)]


def _base(request: Request) -> str:
    return str(request.base_url).rstrip("/") + "/fhir"


def _patient_of(resource: Resource | None, resource_type: str, resource_id: str) -> str | None:
    if resource_type == "Patient":
        return resource_id
    subject = (resource or {}).get("subject")
    if isinstance(subject, dict) and isinstance(subject.get("reference"), str):
        kind, ident = split_reference(subject["reference"])
        return ident if kind == "Patient" else None
    return None


def _resource_response(resource: Resource, status: int = 200, location: str | None = None
                       ) -> FhirResponse:
    meta = resource.get("meta") or {}
    headers: dict[str, str] = {}
    if meta.get("versionId"):
        headers["ETag"] = etag(str(meta["versionId"]))
    if isinstance(meta.get("lastUpdated"), str):
        headers["Last-Modified"] = format_datetime(date_range(meta["lastUpdated"])[0],
                                                   usegmt=True)
    if location:
        headers["Location"] = location
    return FhirResponse(resource, status_code=status, headers=headers)


async def _body(request: Request) -> Any:
    raw = await request.body()
    if len(raw) > MAX_BODY_BYTES:
        raise Invalid("Request body too large")
    content_type = request.headers.get("content-type", "")
    if content_type and "json" not in content_type:
        raise Invalid("Send application/fhir+json")
    try:
        return json.loads(raw)
    except (ValueError, UnicodeDecodeError, RecursionError) as exc:
        raise Invalid({"message": "Malformed JSON body", "error_code": "malformed_json"}) from exc


@router.get("/metadata")
async def metadata(request: Request) -> FhirResponse:
    return FhirResponse(capability_statement(_base(request), platform_of(request).clock.now()))


@router.post("")
@router.post("/")
async def transaction(request: Request, store: Store, auditor: RequestAuditorDep) -> FhirResponse:
    entries = parse_transaction(await _body(request))
    results = await store.transaction(entries)
    for result in results:
        if result.resource is not None:
            rtype, rid = result.resource["resourceType"], result.resource["id"]
            await auditor.record("fhir.write", rtype, rid,
                                 patient_id=_patient_of(result.resource, rtype, rid))
    return FhirResponse(transaction_bundle(_base(request), results))


def _patients_in(resources: list[Resource], resource_type: str) -> list[str | None]:
    """The distinct patients a page of results is about, or [None] when none is known."""
    found = {patient for r in resources
             if (patient := _patient_of(r, resource_type, str(r.get("id")))) is not None}
    return [*sorted(found)] or [None]


@router.get("/{resource_type}")
async def search(request: Request, resource_type: str, store: Store,
                 auditor: RequestAuditorDep) -> FhirResponse:
    check_type(resource_type)
    params: dict[str, list[str]] = {}
    cursor: str | None = None
    for name, value in request.query_params.multi_items():
        if name == "_cursor":
            cursor = value
        else:
            params.setdefault(name, []).append(value)
    page = await store.search(resource_type, params, cursor=cursor)
    # A bulk read is audited like single reads: one entry per patient it returned.
    for patient_id in _patients_in(page.resources, resource_type):
        await auditor.record("fhir.search", resource_type, patient_id=patient_id)
    next_url = None
    if page.next_cursor:
        query = [(k, v) for k, values in params.items() for v in values]
        next_url = (f"{_base(request)}/{resource_type}?"
                    f"{urlencode([*query, ('_cursor', page.next_cursor)])}")
    return FhirResponse(search_bundle(_base(request), str(request.url), page, next_url))


@router.post("/{resource_type}")
async def create(request: Request, resource_type: str, store: Store,
                 auditor: RequestAuditorDep) -> FhirResponse:
    check_type(resource_type)
    body = await _body(request)
    if not isinstance(body, dict) or body.get("resourceType") != resource_type:
        raise Invalid(f"The body must be a {resource_type} resource")
    stored = await store.create(body)
    rid, version = stored["id"], stored["meta"]["versionId"]
    await auditor.record("fhir.create", resource_type, rid,
                         patient_id=_patient_of(stored, resource_type, rid))
    location = f"{_base(request)}/{resource_type}/{rid}/_history/{version}"
    return _resource_response(stored, 201, location)


@router.get("/{resource_type}/{resource_id}")
async def read(resource_type: str, resource_id: str, store: Store,
               auditor: RequestAuditorDep) -> FhirResponse:
    resource = await store.read(resource_type, resource_id)
    await auditor.record("fhir.read", resource_type, resource_id,
                         patient_id=_patient_of(resource, resource_type, resource_id))
    return _resource_response(resource)


@router.put("/{resource_type}/{resource_id}")
async def update(request: Request, resource_type: str, resource_id: str, store: Store,
                 auditor: RequestAuditorDep) -> FhirResponse:
    check_type(resource_type)
    body = await _body(request)
    if not isinstance(body, dict) or body.get("resourceType") != resource_type:
        raise Invalid(f"The body must be a {resource_type} resource")
    if body.setdefault("id", resource_id) != resource_id:
        raise Invalid("The resource id does not match the URL")
    if_match = request.headers.get("if-match")
    stored = await store.update(body, expected_version=parse_etag(if_match) if if_match
                                else None)
    await auditor.record("fhir.update", resource_type, resource_id,
                         patient_id=_patient_of(stored, resource_type, resource_id))
    version = stored["meta"]["versionId"]
    location = f"{_base(request)}/{resource_type}/{resource_id}/_history/{version}"
    return _resource_response(stored, 201 if version == "1" else 200, location)


@router.delete("/{resource_type}/{resource_id}")
async def delete(resource_type: str, resource_id: str, store: Store,
                 auditor: RequestAuditorDep) -> Response:
    await store.delete(resource_type, resource_id)
    await auditor.record("fhir.delete", resource_type, resource_id,
                         patient_id=resource_id if resource_type == "Patient" else None)
    return Response(status_code=204)


@router.get("/{resource_type}/{resource_id}/_history")
async def history(request: Request, resource_type: str, resource_id: str,
                  store: Store, auditor: RequestAuditorDep) -> FhirResponse:
    entries = await store.history(resource_type, resource_id)
    latest = next((e.resource for e in entries if e.resource is not None), None)
    await auditor.record("fhir.history", resource_type, resource_id,
                         patient_id=_patient_of(latest, resource_type, resource_id))
    return FhirResponse(history_bundle(_base(request), resource_type, resource_id, entries))


@router.get("/{resource_type}/{resource_id}/_history/{version_id}")
async def vread(resource_type: str, resource_id: str, version_id: str, store: Store,
                auditor: RequestAuditorDep) -> FhirResponse:
    resource = await store.vread(resource_type, resource_id, version_id)
    await auditor.record("fhir.read", resource_type, resource_id,
                         patient_id=_patient_of(resource, resource_type, resource_id))
    return _resource_response(resource)


@router.api_route("/{path:path}", methods=["GET", "POST", "PUT", "PATCH", "DELETE"])
async def unsupported(path: str) -> FhirResponse:
    raise NotFound(f"Unsupported FHIR interaction: /{path[:80]}")


@router.api_route("", methods=["GET", "PUT", "PATCH", "DELETE"])
async def unsupported_at_base() -> FhirResponse:
    raise NotFound("Unsupported FHIR interaction at the base: POST a transaction Bundle")

