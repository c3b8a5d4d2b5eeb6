"""What every /openehr/v1 route shares: who may call, the store, request and reply helpers."""

from __future__ import annotations

import hmac
import json
from typing import Annotated, Any

from fastapi import Depends, Request

from quill.audit.service import Auditor
from quill.auth.deps import resolve_caller
from quill.errors import Forbidden, Invalid, NotFound, ServiceDisabled, Unauthenticated
from quill.letters.service import SUBJECT_NAMESPACE
from quill.openehr.embedded import EmbeddedCompositionStore
from quill.openehr.models import Ehr
from quill.openehr.port import VersionUid
from quill.web.deps import DbSession
from quill.web.wiring import platform_of

PREFIX = "/openehr/v1"


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


async def get_store(request: Request, db: DbSession) -> EmbeddedCompositionStore:
    """The platform's openEHR store for this unit of work, which must be the embedded one.

    Beside the port's operations the facade needs some only the embedded store has (an
    EHR's creation time, versions, deletion, keyset paging, templates); create_app mounts
    the facade only when no EHRbase is configured, so the gateway hands that one out.
    """
    store = platform_of(request).compositions.store(db)
    if not isinstance(store, EmbeddedCompositionStore):
        raise ServiceDisabled("The openEHR facade serves only the embedded store")
    return store


Store = Annotated[EmbeddedCompositionStore, Depends(get_store)]


def wants_body(prefer: str | None) -> bool:
    return prefer is not None and "return=representation" in prefer.replace(" ", "")


def _object(raw: bytes) -> dict[str, Any]:
    try:
        body = json.loads(raw)
    except ValueError as exc:
        raise Invalid("Request body must be JSON") from exc
    if not isinstance(body, dict):
        raise Invalid("Request body must be a JSON object")
    return body


async def required_object(request: Request) -> dict[str, Any]:
    return _object(await request.body())


async def optional_object(request: Request) -> dict[str, Any] | None:
    """The body as a JSON object, or None when the request has no body."""
    raw = await request.body()
    return _object(raw) if raw.strip() else None


def composition_headers(ehr_id: str, uid: VersionUid | str) -> dict[str, str]:
    return {"ETag": f'"{uid}"', "Location": f"{PREFIX}/ehr/{ehr_id}/composition/{uid}"}


def patient_of(ehr: Ehr) -> str | None:
    """The Quill patient an EHR belongs to, when its subject is one (letters' namespace);
    audit entries name it."""
    return ehr.subject_id if ehr.subject_namespace == SUBJECT_NAMESPACE else None


async def patient_of_ehr(store: EmbeddedCompositionStore, ehr_id: str) -> str | None:
    try:
        return patient_of(await store.ehr(ehr_id))
    except NotFound:
        return None


async def audit_ehr_call(auditor: Auditor, store: EmbeddedCompositionStore, action: str,
                         resource_type: str, resource_id: str, ehr_id: str) -> None:
    """One audit entry for a call about one EHR, naming its patient when there is one."""
    await auditor.record(f"openehr.{action}", resource_type, resource_id,
                         patient_id=await patient_of_ehr(store, ehr_id))
