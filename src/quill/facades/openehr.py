"""``/openehr/v1``: the openEHR REST subset the EHRbase adapter uses, over the embedded store.

It exists so another Quill (and the adapter's contract tests) can use this one as its
openEHR server. Only what the adapter sends is implemented; the only AQL accepted is the
adapter's letter-list query. Callers need an admin session or the service token.
"""

from __future__ import annotations

import hmac
import re
from typing import Annotated, Any

from fastapi import APIRouter, Depends, Header, Query, Request
from fastapi.responses import JSONResponse, Response

from quill.auth.deps import resolve_caller
from quill.errors import Forbidden, Invalid, NotFound, ServiceDisabled, Unauthenticated
from quill.letters.service import SUBJECT_NAMESPACE
from quill.openehr.embedded import DEFAULT_SYSTEM_ID, EmbeddedCompositionStore
from quill.openehr.http import LIST_QUERY
from quill.openehr.models import Ehr
from quill.openehr.port import (
    MAX_PAGE,
    Keyset,
    VersionUid,
    format_time,
    object_id_of,
    parse_time,
)
from quill.web.deps import DbSession, RequestAuditorDep
from quill.web.wiring import platform_of

PREFIX = "/openehr/v1"
TEMPLATE_ID_PATTERN = re.compile(r"<template_id>\s*<value>\s*([^<\s]+)\s*</value>", re.S)
QUERY_PARAMETERS = ("ehr_id", "archetype_node_id", "before_time", "before_uid")
COLUMNS = ("c/uid/value", "c/name/value", "c/composer/name", "c/context/start_time/value")


def _bearer(request: Request) -> str | None:
    scheme, _, value = request.headers.get("authorization", "").partition(" ")
    return value.strip() if scheme.lower() == "bearer" and value.strip() else None


async def facade_access(request: Request, db: DbSession) -> None:
    """An admin session or the service token; everything else is 401 with no data."""
    token = _bearer(request)
    expected = platform_of(request).settings.service_token
    if token is not None and expected and hmac.compare_digest(
        token.encode(), expected.encode()
    ):
        return
    try:
        caller = await resolve_caller(request, db)
    except (Unauthenticated, Forbidden) as exc:
        raise Unauthenticated("Admin session or service token required") from exc
    if not caller.is_admin:
        raise Unauthenticated("Admin session or service token required")


router = APIRouter(prefix=PREFIX, dependencies=[Depends(facade_access)],
                   include_in_schema=False)


async def get_store(request: Request, db: DbSession) -> EmbeddedCompositionStore:
    """The platform's openEHR store for this unit of work, which must be the embedded one.

    Beside the port's operations the facade needs a few only the embedded store has (an
    EHR's creation time, create-or-conflict, keyset paging, template upload); create_app
    mounts the facade only when no EHRbase is configured, so the gateway hands that out.
    """
    store = platform_of(request).compositions.store(db)
    if not isinstance(store, EmbeddedCompositionStore):
        raise ServiceDisabled("The openEHR facade serves only the embedded store")
    return store


Store = Annotated[EmbeddedCompositionStore, Depends(get_store)]


def _patient_of_subject(subject_id: str, namespace: str) -> str | None:
    """The Quill patient an EHR subject is, when it is one (letters' namespace)."""
    return subject_id if namespace == SUBJECT_NAMESPACE else None


async def _patient_of_ehr(store: EmbeddedCompositionStore, ehr_id: str) -> str | None:
    try:
        ehr = await store.ehr(ehr_id)
    except NotFound:
        return None
    return _patient_of_subject(ehr.subject_id, ehr.subject_namespace)


def _wants_body(prefer: str | None) -> bool:
    return prefer is not None and "return=representation" in prefer.replace(" ", "")


async def _json_object(request: Request) -> dict[str, Any]:
    try:
        body = await request.json()
    except ValueError as exc:
        raise Invalid("Request body must be JSON") from exc
    if not isinstance(body, dict):
        raise Invalid("Request body must be a JSON object")
    return body


def _ehr_json(ehr: Ehr) -> dict[str, Any]:
    return {
        "system_id": {"_type": "HIER_OBJECT_ID", "value": DEFAULT_SYSTEM_ID},
        "ehr_id": {"_type": "HIER_OBJECT_ID", "value": ehr.id},
        "ehr_status": {"id": {"_type": "OBJECT_VERSION_ID",
                              "value": f"{ehr.id}::{DEFAULT_SYSTEM_ID}::1"},
                       "namespace": "local", "type": "EHR_STATUS"},
        "time_created": {"_type": "DV_DATE_TIME", "value": format_time(ehr.created_at)},
    }


@router.get("/ehr")
async def ehr_by_subject(
    store: Store, auditor: RequestAuditorDep,
    subject_id: Annotated[str | None, Query(max_length=128)] = None,
    subject_namespace: Annotated[str | None, Query(max_length=128)] = None,
) -> JSONResponse:
    if not subject_id or not subject_namespace:
        raise Invalid("subject_id and subject_namespace are required")
    ehr_id = await store.find_ehr(subject_id, subject_namespace)
    await auditor.record("openehr.ehr_lookup", "EHR", ehr_id,
                         patient_id=_patient_of_subject(subject_id, subject_namespace))
    if ehr_id is None:
        return JSONResponse({"message": "No EHR for this subject"}, status_code=404)
    ehr = await store.ehr(ehr_id)
    return JSONResponse(_ehr_json(ehr), headers={"ETag": f'"{ehr.id}"'})


def _subject_of(status: dict[str, Any]) -> tuple[str, str]:
    try:
        ref = status["subject"]["external_ref"]
        subject_id, namespace = ref["id"]["value"], ref["namespace"]
    except (KeyError, TypeError) as exc:
        raise Invalid("EHR_STATUS needs subject.external_ref with id and namespace") from exc
    if status.get("_type", "EHR_STATUS") != "EHR_STATUS":
        raise Invalid("Body must be an EHR_STATUS")
    if not (isinstance(subject_id, str) and isinstance(namespace, str)
            and 0 < len(subject_id) <= 128 and 0 < len(namespace) <= 128):
        raise Invalid("subject id and namespace must be non-empty strings")
    return subject_id, namespace


@router.post("/ehr")
async def create_ehr(request: Request, store: Store, auditor: RequestAuditorDep,
                     prefer: Annotated[str | None, Header()] = None) -> Response:
    subject_id, namespace = _subject_of(await _json_object(request))
    ehr = await store.ehr(await store.create_ehr(subject_id, namespace))
    await auditor.record("openehr.ehr_create", "EHR", ehr.id,
                         patient_id=_patient_of_subject(subject_id, namespace))
    headers = {"ETag": f'"{ehr.id}"', "Location": f"{PREFIX}/ehr/{ehr.id}"}
    if _wants_body(prefer):
        return JSONResponse(_ehr_json(ehr), status_code=201, headers=headers)
    return Response(status_code=201, headers=headers)


def _composition_headers(ehr_id: str, uid: VersionUid) -> dict[str, str]:
    return {"ETag": f'"{uid}"', "Location": f"{PREFIX}/ehr/{ehr_id}/composition/{uid}"}


@router.post("/ehr/{ehr_id}/composition")
async def create_composition(ehr_id: str, request: Request, store: Store,
                             auditor: RequestAuditorDep,
                             prefer: Annotated[str | None, Header()] = None) -> Response:
    uid = await store.create_composition(ehr_id, await _json_object(request))
    await auditor.record("openehr.composition_create", "COMPOSITION", str(uid),
                         patient_id=await _patient_of_ehr(store, ehr_id))
    headers = _composition_headers(ehr_id, uid)
    if _wants_body(prefer):
        stored = await store.read_composition(ehr_id, str(uid))
        return JSONResponse(stored.data, status_code=201, headers=headers)
    return Response(status_code=201, headers=headers)


@router.get("/ehr/{ehr_id}/composition/{uid}")
async def read_composition(ehr_id: str, uid: str, store: Store,
                           auditor: RequestAuditorDep) -> JSONResponse:
    stored = await store.read_composition(ehr_id, uid)
    await auditor.record("openehr.composition_read", "COMPOSITION", str(stored.uid),
                         patient_id=await _patient_of_ehr(store, ehr_id))
    return JSONResponse(stored.data, headers=_composition_headers(ehr_id, stored.uid))


@router.put("/ehr/{ehr_id}/composition/{object_id}")
async def update_composition(
    ehr_id: str, object_id: str, request: Request, store: Store, auditor: RequestAuditorDep,
    if_match: Annotated[str | None, Header()] = None,
    prefer: Annotated[str | None, Header()] = None,
) -> Response:
    if not if_match:
        raise Invalid("If-Match with the preceding version uid is required")
    preceding = if_match.strip().removeprefix("W/").strip('"')
    if object_id_of(preceding) != object_id_of(object_id):
        raise Invalid("If-Match does not name a version of this composition")
    uid = await store.update_composition(ehr_id, preceding, await _json_object(request))
    await auditor.record("openehr.composition_update", "COMPOSITION", str(uid),
                         patient_id=await _patient_of_ehr(store, ehr_id))
    headers = _composition_headers(ehr_id, uid)
    if _wants_body(prefer):
        stored = await store.read_composition(ehr_id, str(uid))
        return JSONResponse(stored.data, headers=headers)
    return Response(status_code=204, headers=headers)


def _normalised(text: str) -> str:
    return " ".join(text.split())


def _list_parameters(body: dict[str, Any]) -> tuple[dict[str, str], int]:
    unsupported = Invalid(
        "Unsupported AQL: this facade runs only the Quill letter-list query, "
        "with parameters ehr_id, archetype_node_id, before_time, before_uid and a fetch size")
    q, params, fetch = body.get("q"), body.get("query_parameters"), body.get("fetch")
    if not isinstance(q, str) or _normalised(q) != _normalised(LIST_QUERY):
        raise unsupported
    if not isinstance(params, dict) or set(params) != set(QUERY_PARAMETERS):
        raise unsupported
    if not all(isinstance(params[name], str) for name in QUERY_PARAMETERS):
        raise unsupported
    if not isinstance(fetch, int) or isinstance(fetch, bool) or not 1 <= fetch <= MAX_PAGE + 1:
        raise unsupported
    if body.get("offset", 0) != 0 or set(body) - {"q", "query_parameters", "fetch", "offset"}:
        raise unsupported
    return params, fetch


@router.post("/query/aql")
async def query_aql(request: Request, store: Store, auditor: RequestAuditorDep
                    ) -> JSONResponse:
    params, fetch = _list_parameters(await _json_object(request))
    after = Keyset(parse_time(params["before_time"]), object_id_of(params["before_uid"]))
    page = await store.list_after(params["ehr_id"], params["archetype_node_id"],
                                  limit=fetch, after=after)
    await auditor.record("openehr.query", "EHR", params["ehr_id"],
                         patient_id=await _patient_of_ehr(store, params["ehr_id"]))
    rows = [[str(item.uid), item.name, item.composer_name, format_time(item.start_time)]
            for item in page.items]
    return JSONResponse({
        "meta": {"_type": "RESULTSET", "_executed_aql": LIST_QUERY},
        "q": LIST_QUERY,
        "columns": [{"name": f"#{index}", "path": path} for index, path in enumerate(COLUMNS)],
        "rows": rows,
    })


@router.post("/definition/template/adl1.4")
async def upload_template(request: Request, store: Store,
                          auditor: RequestAuditorDep) -> Response:
    content = (await request.body()).decode("utf-8", errors="replace")
    found = TEMPLATE_ID_PATTERN.search(content)
    if found is None:
        raise Invalid("Body must be an operational template (OPT 1.4 XML) with a template_id")
    template_id = found.group(1)
    await store.add_template(template_id, content)
    await auditor.record("openehr.template_upload", "Template", template_id)
    return Response(status_code=201, headers={
        "Location": f"{PREFIX}/definition/template/adl1.4/{template_id}"})
