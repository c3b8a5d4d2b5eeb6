"""The /fhir facade: an R4 REST subset over whichever FhirStore the platform holds."""

from __future__ import annotations

import hmac
import json
from collections.abc import Callable
from email.utils import format_datetime
from typing import Annotated, Any
from urllib.parse import urlencode

from fastapi import APIRouter, Depends, Request
from fastapi.responses import Response

from quill.auth.deps import resolve_caller
from quill.errors import Invalid, NotAllowed, PreconditionFailed, QuillError, Unauthenticated
from quill.facades.fhir.bundles import (
    history_bundle,
    parse_transaction,
    search_bundle,
    transaction_bundle,
)
from quill.facades.fhir.capability import capability_statement
from quill.facades.fhir.negotiation import require_json
from quill.facades.fhir.outcome import FhirResponse, FhirRoute
from quill.facades.fhir.patching import apply_patch, patch_operations
from quill.facades.fhir.results import included, take_result_params
from quill.facades.fhir.unsupported import (
    EVERY_METHOD,
    history_error,
    interaction_error,
    operation_error,
)
from quill.fhir.conditional import single_match, update_target
from quill.fhir.port import (
    FhirStore,
    Resource,
    etag,
    parse_etag,
    split_reference,
    version_of,
)
from quill.fhir.query import IGNORED
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


# Capability discovery comes before authentication for FHIR clients (SMART's prepare()
# reads it first), so /metadata is the one public route; everything else is on ``router``.
public_router = APIRouter(prefix="/fhir", route_class=FhirRoute, include_in_schema=False,
                          dependencies=[Depends(require_json)])
router = APIRouter(prefix="/fhir", route_class=FhirRoute, include_in_schema=False,
                   dependencies=[Depends(require_fhir_access), Depends(require_json)])


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


@public_router.get("/metadata")
async def metadata(request: Request) -> FhirResponse:
    return FhirResponse(capability_statement(_base(request), platform_of(request).clock.now()))


# Operations and type/system history come first: otherwise ``/Patient/$validate`` would be
# read as the Patient with id "$validate".
@router.api_route("/${operation}", methods=EVERY_METHOD)
async def system_operation(operation: str) -> FhirResponse:
    raise operation_error(None, operation)


@router.api_route("/{resource_type}/${operation}", methods=EVERY_METHOD)
@router.api_route("/{resource_type}/{resource_id}/${operation}", methods=EVERY_METHOD)
async def resource_operation(resource_type: str, operation: str) -> FhirResponse:
    raise operation_error(resource_type, operation)


@router.api_route("/_history", methods=EVERY_METHOD)
@router.api_route("/{resource_type}/_history", methods=EVERY_METHOD)
async def wide_history(resource_type: str | None = None) -> FhirResponse:
    raise history_error(resource_type)


# Before the type-level routes, whose ``{resource_type}`` would otherwise take "metadata".
@router.api_route("/metadata", methods=[m for m in EVERY_METHOD if m != "GET"])
async def metadata_other_methods() -> FhirResponse:
    raise NotAllowed({"message": "This interaction is not supported here; allowed: GET",
                      "error_code": "not_supported"}, headers={"Allow": "GET"})


@router.post("")
@router.post("/")
async def transaction(request: Request, store: Store, auditor: RequestAuditorDep) -> FhirResponse:
    entries = parse_transaction(await _body(request))
    results = await store.transaction(entries)
    for result in results:
        if result.resource is not None:
            rtype, rid = result.resource["resourceType"], result.resource["id"]
            # A conditional create that matched wrote nothing but disclosed the match.
            await auditor.record("fhir.write" if result.written else "fhir.read", rtype, rid,
                                 patient_id=_patient_of(result.resource, rtype, rid))
    return FhirResponse(transaction_bundle(_base(request), results))


def _patients_in(resources: list[Resource]) -> list[str | None]:
    """The distinct patients some results are about, or [None] when none is known."""
    found = {patient for r in resources
             if (patient := _patient_of(r, str(r.get("resourceType")), str(r.get("id"))))
             is not None}
    return [*sorted(found)] or [None]


@router.get("/{resource_type}")
async def search(request: Request, resource_type: str, store: Store,
                 auditor: RequestAuditorDep) -> FhirResponse:
    check_type(resource_type)
    query = [(k, v) for k, v in request.query_params.multi_items() if k != "_cursor"]
    params: dict[str, list[str]] = {}
    for name, value in query:
        params.setdefault(name, []).append(value)
    wanted = take_result_params(resource_type, params)
    page = await store.search(resource_type, params, count=0 if wanted.count_only else None,
                              cursor=request.query_params.get("_cursor"))
    extra = await included(store, page.resources, wanted.includes) if wanted.includes else []
    # A bulk read is audited like single reads: one entry per patient it returned,
    # included resources too.
    for patient_id in _patients_in([*page.resources, *extra]):
        await auditor.record("fhir.search", resource_type, patient_id=patient_id)
    next_url = None
    if page.next_cursor:
        next_url = (f"{_base(request)}/{resource_type}?"
                    f"{urlencode([*query, ('_cursor', page.next_cursor)])}")
    return FhirResponse(search_bundle(_base(request), str(request.url), page, next_url,
                                      extra))


def _if_none_exist(request: Request) -> str | None:
    """The conditional-create criteria: the R4 header, or search parameters on the POST
    url as fhirpy's ``get_or_create`` sends them (both at once is ambiguous)."""
    header = request.headers.get("if-none-exist")
    query = [(k, v) for k, v in request.query_params.multi_items() if k not in IGNORED]
    if header is not None and query:
        raise Invalid("Send conditional-create criteria in If-None-Exist or the url, not both")
    return header if header is not None else (urlencode(query) if query else None)


async def _resource_body(request: Request, resource_type: str) -> Resource:
    check_type(resource_type)
    body = await _body(request)
    if not isinstance(body, dict) or body.get("resourceType") != resource_type:
        raise Invalid(f"The body must be a {resource_type} resource")
    return body


@router.post("/{resource_type}")
async def create(request: Request, resource_type: str, store: Store,
                 auditor: RequestAuditorDep) -> FhirResponse:
    body = await _resource_body(request, resource_type)
    criteria = _if_none_exist(request)
    if criteria is not None:
        match = await single_match(store, resource_type, criteria)
        if match is not None:
            await auditor.record("fhir.read", resource_type, match["id"],
                                 patient_id=_patient_of(match, resource_type, match["id"]))
            return _resource_response(match)
    stored = await store.create(body)
    rid, version = stored["id"], stored["meta"]["versionId"]
    await auditor.record("fhir.create", resource_type, rid,
                         patient_id=_patient_of(stored, resource_type, rid))
    location = f"{_base(request)}/{resource_type}/{rid}/_history/{version}"
    return _resource_response(stored, 201, location)


def _criteria(request: Request, interaction: str) -> str:
    if not request.url.query:
        raise Invalid(f"A conditional {interaction} needs search criteria in the url")
    return request.url.query


@router.put("/{resource_type}")
async def conditional_update(request: Request, resource_type: str, store: Store,
                             auditor: RequestAuditorDep) -> FhirResponse:
    body = await _resource_body(request, resource_type)
    target = await update_target(store, body, _criteria(request, "update"))
    if target.resource_id is None:
        stored = await store.create(body)
    else:
        stored = await store.update({**body, "id": target.resource_id},
                                    expected_version=target.expected_version)
    rid, version = stored["id"], stored["meta"]["versionId"]
    await auditor.record("fhir.update", resource_type, rid,
                         patient_id=_patient_of(stored, resource_type, rid))
    location = f"{_base(request)}/{resource_type}/{rid}/_history/{version}"
    return _resource_response(stored, 201 if version == "1" else 200, location)


@router.delete("/{resource_type}")
async def conditional_delete(request: Request, resource_type: str, store: Store,
                             auditor: RequestAuditorDep) -> Response:
    check_type(resource_type)
    match = await single_match(store, resource_type, _criteria(request, "delete"))
    if match is not None:
        await store.delete(resource_type, match["id"])
        await auditor.record("fhir.delete", resource_type, match["id"],
                             patient_id=_patient_of(match, resource_type, match["id"]))
    return Response(status_code=204)


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


@router.patch("/{resource_type}/{resource_id}")
async def patch(request: Request, resource_type: str, resource_id: str, store: Store,
                auditor: RequestAuditorDep) -> FhirResponse:
    check_type(resource_type)
    operations = patch_operations(request.headers.get("content-type", ""),
                                  await _body(request))
    current = await store.read(resource_type, resource_id)
    version = version_of(current)
    if_match = request.headers.get("if-match")
    if if_match and parse_etag(if_match) != version:
        raise PreconditionFailed({"message": "Version mismatch",
                                  "error_code": "version_conflict", "current_version": version})
    # The patch was applied to ``version``: a write in between is a conflict, not lost.
    stored = await store.update(apply_patch(current, operations), expected_version=version)
    await auditor.record("fhir.update", resource_type, resource_id,
                         patient_id=_patient_of(stored, resource_type, resource_id))
    location = f"{_base(request)}/{resource_type}/{resource_id}/_history/" \
               f"{stored['meta']['versionId']}"
    return _resource_response(stored, 200, location)


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


# Last: whatever no route above serves. Registered after every other route of both
# routers, so the methods a path does serve can be read off the route table.
@router.api_route("", methods=EVERY_METHOD)
@router.api_route("/{path:path}", methods=EVERY_METHOD)
async def unsupported(request: Request) -> FhirResponse:
    raise interaction_error([*public_router.routes, *router.routes], _FALLBACKS,
                            "/fhir", request.scope["path"])


_FALLBACKS: set[Callable[..., Any]] = {system_operation, resource_operation, wide_history,
                                       metadata_other_methods, unsupported}

