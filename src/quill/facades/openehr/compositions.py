"""COMPOSITION and VERSIONED_COMPOSITION endpoints.

Every change is a new version: an update with ``If-Match``, and a delete, whose version
carries no data. Reading a deleted composition answers 204, as the spec says; its older
versions stay readable, and its revision history lists the deletion.
"""

from __future__ import annotations

from datetime import UTC
from typing import Annotated, Any

from fastapi import APIRouter, Header, Query, Request
from fastapi.responses import JSONResponse, Response

from quill.errors import Invalid, NotFound
from quill.facades.openehr.common import (
    PREFIX,
    Store,
    audit_ehr_call,
    composition_headers,
    required_object,
    wants_body,
)
from quill.facades.openehr.errors import OpenEhrRoute
from quill.openehr.embedded import DEFAULT_SYSTEM_ID
from quill.openehr.models import CompositionVersion
from quill.openehr.port import VersionUid, format_time, object_id_of, parse_time
from quill.web.deps import RequestAuditorDep

router = APIRouter(route_class=OpenEhrRoute, include_in_schema=False)
# openEHR terminology codes for a version's change type and lifecycle state.
CHANGE_CODES = {"creation": "249", "modification": "251", "deleted": "523"}
LIFECYCLE = {True: ("deleted", "523"), False: ("complete", "532")}


def _coded(value: str, code: str) -> dict[str, Any]:
    return {"_type": "DV_CODED_TEXT", "value": value, "defining_code": {
        "_type": "CODE_PHRASE", "terminology_id": {"_type": "TERMINOLOGY_ID",
                                                   "value": "openehr"},
        "code_string": code}}


def _version_uid(version: CompositionVersion) -> VersionUid:
    return VersionUid(version.composition_id, DEFAULT_SYSTEM_ID, version.version)


@router.post("/ehr/{ehr_id}/composition")
async def create_composition(ehr_id: str, request: Request, store: Store,
                             auditor: RequestAuditorDep,
                             prefer: Annotated[str | None, Header()] = None) -> Response:
    uid = await store.create_composition(ehr_id, await required_object(request))
    await audit_ehr_call(auditor, store, "composition_create", "COMPOSITION", str(uid), ehr_id)
    headers = composition_headers(ehr_id, uid)
    if wants_body(prefer):
        stored = await store.read_composition(ehr_id, str(uid))
        return JSONResponse(stored.data, status_code=201, headers=headers)
    return Response(status_code=201, headers=headers)


@router.get("/ehr/{ehr_id}/composition/{uid}")
async def read_composition(ehr_id: str, uid: str, store: Store,
                           auditor: RequestAuditorDep) -> Response:
    version = await store.read_version(ehr_id, uid)
    await audit_ehr_call(auditor, store, "composition_read", "COMPOSITION",
                         str(_version_uid(version)), ehr_id)
    headers = composition_headers(ehr_id, _version_uid(version))
    if version.data is None:
        return Response(status_code=204, headers=headers)
    return JSONResponse(version.data, headers=headers)


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
    uid = await store.update_composition(ehr_id, preceding, await required_object(request))
    await audit_ehr_call(auditor, store, "composition_update", "COMPOSITION", str(uid), ehr_id)
    headers = composition_headers(ehr_id, uid)
    if wants_body(prefer):
        stored = await store.read_composition(ehr_id, str(uid))
        return JSONResponse(stored.data, headers=headers)
    return Response(status_code=204, headers=headers)


@router.delete("/ehr/{ehr_id}/composition/{uid}")
async def delete_composition(ehr_id: str, uid: str, store: Store,
                             auditor: RequestAuditorDep) -> Response:
    deletion = await store.delete_composition(ehr_id, uid)
    await audit_ehr_call(auditor, store, "composition_delete", "COMPOSITION", str(deletion),
                         ehr_id)
    return Response(status_code=204, headers=composition_headers(ehr_id, deletion))


def _audit(version: CompositionVersion) -> dict[str, Any]:
    return {
        "_type": "AUDIT_DETAILS",
        "system_id": DEFAULT_SYSTEM_ID,
        "time_committed": {"_type": "DV_DATE_TIME", "value": format_time(version.committed_at)},
        "change_type": _coded(version.change_type, CHANGE_CODES[version.change_type]),
        # Quill records no committer per version; the committing system stands in.
        "committer": {"_type": "PARTY_IDENTIFIED", "name": DEFAULT_SYSTEM_ID},
    }


def version_json(version: CompositionVersion) -> dict[str, Any]:
    uid = _version_uid(version)
    body: dict[str, Any] = {
        "_type": "ORIGINAL_VERSION",
        "uid": {"_type": "OBJECT_VERSION_ID", "value": str(uid)},
        "commit_audit": _audit(version),
        "lifecycle_state": _coded(*LIFECYCLE[version.data is None]),
        "data": version.data,
    }
    if version.version > 1:
        body["preceding_version_uid"] = {
            "_type": "OBJECT_VERSION_ID",
            "value": str(VersionUid(uid.object_id, uid.system_id, uid.version - 1))}
    return body


VERSIONED = "/ehr/{ehr_id}/versioned_composition/{object_id}"


@router.get(VERSIONED)
async def versioned_composition(ehr_id: str, object_id: str, store: Store,
                                auditor: RequestAuditorDep) -> JSONResponse:
    row, _ = await store.versions(ehr_id, object_id)
    await audit_ehr_call(auditor, store, "versions_read", "VERSIONED_COMPOSITION", row.id,
                         ehr_id)
    return JSONResponse({
        "_type": "VERSIONED_COMPOSITION",
        "uid": {"_type": "HIER_OBJECT_ID", "value": row.id},
        "owner_id": {"id": {"_type": "HIER_OBJECT_ID", "value": row.ehr_id},
                     "namespace": "local", "type": "EHR"},
        "time_created": {"_type": "DV_DATE_TIME", "value": format_time(row.created_at)},
    })


@router.get(VERSIONED + "/revision_history")
async def revision_history(ehr_id: str, object_id: str, store: Store,
                           auditor: RequestAuditorDep) -> JSONResponse:
    _, versions = await store.versions(ehr_id, object_id)
    await audit_ehr_call(auditor, store, "versions_read", "VERSIONED_COMPOSITION", object_id,
                         ehr_id)
    return JSONResponse({"items": [
        {"version_id": {"_type": "OBJECT_VERSION_ID", "value": str(_version_uid(v))},
         "audits": [_audit(v)]} for v in versions]})


def _version_headers(ehr_id: str, version: CompositionVersion) -> dict[str, str]:
    uid = _version_uid(version)
    return {"ETag": f'"{uid}"', "Location":
            f"{PREFIX}/ehr/{ehr_id}/versioned_composition/{uid.object_id}/version/{uid}"}


@router.get(VERSIONED + "/version")
async def version_at_time(
    ehr_id: str, object_id: str, store: Store, auditor: RequestAuditorDep,
    version_at_time: Annotated[str | None, Query(max_length=64)] = None,
) -> JSONResponse:
    _, versions = await store.versions(ehr_id, object_id)
    await audit_ehr_call(auditor, store, "versions_read", "VERSIONED_COMPOSITION", object_id,
                         ehr_id)
    chosen = versions[-1]
    if version_at_time is not None:
        moment = parse_time(version_at_time)
        extant = [v for v in versions if v.committed_at.astimezone(UTC) <= moment]
        if not extant:
            raise NotFound("No version of the composition existed at that time")
        chosen = extant[-1]
    return JSONResponse(version_json(chosen), headers=_version_headers(ehr_id, chosen))


@router.get(VERSIONED + "/version/{version_uid}")
async def version_by_id(ehr_id: str, object_id: str, version_uid: str,
                        store: Store, auditor: RequestAuditorDep) -> JSONResponse:
    if object_id_of(version_uid) != object_id_of(object_id):
        raise NotFound("That version belongs to another composition")
    version = await store.read_version(ehr_id, str(VersionUid.parse(version_uid)))
    await audit_ehr_call(auditor, store, "composition_read", "COMPOSITION",
                         str(_version_uid(version)), ehr_id)
    return JSONResponse(version_json(version), headers=_version_headers(ehr_id, version))
