"""The EHRbase 2.x adapter: CompositionStore over the openEHR REST API.

Point it at an EHRbase server or at another Quill's ``/openehr/v1`` facade; both speak
the same subset. Every failure becomes a domain error: 4xx answers that the port
describes map to NotFound / PreconditionFailed / Invalid, anything else to Upstream
(502), and a timeout to UpstreamTimeout (504).
"""

from __future__ import annotations

from typing import Any
from urllib.parse import quote

import httpx
from sqlalchemy.ext.asyncio import AsyncSession

from quill.errors import Conflict, Invalid, NotFound, PreconditionFailed, Upstream, UpstreamTimeout
from quill.openehr.port import (
    Composition,
    CompositionPage,
    CompositionStore,
    CompositionSummary,
    Keyset,
    StoredComposition,
    VersionUid,
    check_limit,
    format_time,
    parse_time,
)
from quill.settings import Settings

REST_PATH = "/ehrbase/rest/openehr/v1"
REPRESENTATION = {"Prefer": "return=representation"}
# The single AQL query the adapter sends; the facade accepts exactly this text.
LIST_QUERY = (
    "SELECT c/uid/value, c/name/value, c/composer/name, c/context/start_time/value "
    "FROM EHR e CONTAINS COMPOSITION c "
    "WHERE e/ehr_id/value = $ehr_id AND c/archetype_node_id = $archetype_node_id "
    "AND (c/context/start_time/value < $before_time "
    "OR (c/context/start_time/value = $before_time AND c/uid/value < $before_uid)) "
    "ORDER BY c/context/start_time/value DESC, c/uid/value DESC"
)
# Sorts after every real start time, so the first page needs no second query shape.
FIRST_PAGE_TIME = "9999-12-31T23:59:59.999999+00:00"
FIRST_PAGE_UID = "~"


def rest_base_url(url: str) -> str:
    """Accept the server root, ``.../ehrbase`` or the full ``.../openehr/v1`` base."""
    base = url.rstrip("/")
    if base.endswith("/v1"):
        return base
    if base.endswith("/ehrbase"):
        return base + "/rest/openehr/v1"
    return base + REST_PATH


def make_client(settings: Settings) -> httpx.AsyncClient:
    headers = {"Accept": "application/json"}
    auth: httpx.BasicAuth | None = None
    if settings.ehrbase_token:
        headers["Authorization"] = f"Bearer {settings.ehrbase_token}"
    elif settings.ehrbase_user:
        auth = httpx.BasicAuth(settings.ehrbase_user, settings.ehrbase_password)
    return httpx.AsyncClient(
        base_url=rest_base_url(settings.ehrbase_url), headers=headers, auth=auth,
        timeout=httpx.Timeout(settings.outbound_timeout_seconds),
    )


def ehr_status(subject_id: str, namespace: str) -> dict[str, Any]:
    return {
        "_type": "EHR_STATUS",
        "archetype_node_id": "openEHR-EHR-EHR_STATUS.generic.v1",
        "name": {"_type": "DV_TEXT", "value": "EHR Status"},
        "subject": {"_type": "PARTY_SELF", "external_ref": {
            "_type": "PARTY_REF", "namespace": namespace, "type": "PERSON",
            "id": {"_type": "GENERIC_ID", "value": subject_id, "scheme": "id_scheme"},
        }},
        "is_modifiable": True,
        "is_queryable": True,
    }


def _etag_uid(response: httpx.Response) -> VersionUid:
    etag = response.headers.get("ETag", "").strip()
    if etag.startswith("W/"):
        etag = etag[2:]
    try:
        return VersionUid.parse(etag.strip('"'))
    except Invalid as exc:
        raise Upstream(f"openEHR server sent no usable ETag: {etag!r}") from exc


class EhrbaseCompositionStore:
    def __init__(self, client: httpx.AsyncClient) -> None:
        self.client = client

    async def _send(self, method: str, path: str, **kwargs: Any) -> httpx.Response:
        try:
            response = await self.client.request(method, path, **kwargs)
        except httpx.TimeoutException as exc:
            raise UpstreamTimeout(f"openEHR {method} {path} timed out") from exc
        except httpx.HTTPError as exc:
            raise Upstream(f"openEHR {method} {path} failed: {exc!r}") from exc
        if response.status_code >= 500 or response.status_code in (401, 403):
            raise Upstream(f"openEHR {method} {path} answered {response.status_code}: "
                           f"{response.text[:500]}")
        return response

    @staticmethod
    def _unexpected(response: httpx.Response) -> Upstream:
        request = response.request
        return Upstream(f"openEHR {request.method} {request.url.path} answered "
                        f"{response.status_code}: {response.text[:500]}")

    async def find_ehr(self, subject_id: str, namespace: str) -> str | None:
        response = await self._send("GET", "/ehr", params={
            "subject_id": subject_id, "subject_namespace": namespace})
        if response.status_code == 404:
            return None
        if response.status_code != 200:
            raise self._unexpected(response)
        return str(response.json()["ehr_id"]["value"])

    async def ensure_ehr(self, subject_id: str, namespace: str) -> str:
        found = await self.find_ehr(subject_id, namespace)
        if found is not None:
            return found
        response = await self._send("POST", "/ehr", json=ehr_status(subject_id, namespace),
                                    headers=REPRESENTATION)
        if response.status_code == 409:
            # Another writer created it between our read and our write.
            again = await self.find_ehr(subject_id, namespace)
            if again is not None:
                return again
        if response.status_code not in (200, 201):
            raise self._unexpected(response)
        return str(response.json()["ehr_id"]["value"])

    async def create_composition(self, ehr_id: str, composition: Composition) -> VersionUid:
        response = await self._send("POST", f"/ehr/{quote(ehr_id)}/composition",
                                    json=composition, headers=REPRESENTATION)
        self._raise_for_write(response, created=True)
        return _etag_uid(response)

    async def read_composition(self, ehr_id: str, uid: str) -> StoredComposition:
        if "::" in uid:
            VersionUid.parse(uid)
        response = await self._send(
            "GET", f"/ehr/{quote(ehr_id)}/composition/{quote(uid, safe=':')}")
        if response.status_code in (400, 404, 204):
            raise NotFound("Composition not found")
        if response.status_code != 200:
            raise self._unexpected(response)
        data: Composition = response.json()
        try:
            version = VersionUid.parse(str(data["uid"]["value"]))
        except (KeyError, TypeError, Invalid) as exc:
            raise Upstream("openEHR composition without a version uid") from exc
        return StoredComposition(version, data)

    async def update_composition(
        self, ehr_id: str, preceding: str, composition: Composition
    ) -> VersionUid:
        expected = VersionUid.parse(preceding)
        headers = {**REPRESENTATION, "If-Match": f'"{expected}"'}
        response = await self._send(
            "PUT", f"/ehr/{quote(ehr_id)}/composition/{quote(expected.object_id)}",
            json=composition, headers=headers)
        self._raise_for_write(response, created=False)
        return _etag_uid(response)

    def _raise_for_write(self, response: httpx.Response, *, created: bool) -> None:
        status = response.status_code
        if status == 404:
            raise NotFound("EHR or composition not found")
        if status == 412:
            raise PreconditionFailed("Composition was changed since that version")
        if status == 409:
            raise Conflict("openEHR server refused the write as a conflict")
        if status in (400, 422):
            raise Invalid(f"openEHR server rejected the composition: {_reason(response)}")
        if status not in ((200, 201) if created else (200, 204)):
            raise self._unexpected(response)

    async def list_compositions(
        self, ehr_id: str, archetype_node_id: str, *, limit: int, cursor: str | None = None
    ) -> CompositionPage:
        check_limit(limit)
        after = Keyset.decode(cursor) if cursor else None
        parameters = {
            "ehr_id": ehr_id, "archetype_node_id": archetype_node_id,
            "before_time": FIRST_PAGE_TIME if after is None else format_time(after.start_time),
            "before_uid": FIRST_PAGE_UID if after is None else after.object_id,
        }
        response = await self._send("POST", "/query/aql", json={
            "q": LIST_QUERY, "query_parameters": parameters, "fetch": limit + 1})
        if response.status_code != 200:
            raise self._unexpected(response)
        rows = response.json().get("rows") or []
        try:
            items = [_summary(row) for row in rows[:limit]]
        except (ValueError, TypeError, IndexError, Invalid) as exc:
            raise Upstream(f"openEHR query returned an unexpected row: {exc!r}") from exc
        next_cursor = None
        if len(rows) > limit and items:
            next_cursor = Keyset(items[-1].start_time, items[-1].uid.object_id).encode()
        return CompositionPage(items, next_cursor)

    async def available(self) -> bool:
        """Health: the server answers an EHR lookup (404 for the probe subject is fine)."""
        response = await self._send("GET", "/ehr", params={
            "subject_id": "quill-health-probe", "subject_namespace": "quill_health"})
        return response.status_code in (200, 404)


def _reason(response: httpx.Response) -> str:
    """The server's own words: openEHR's ``message`` (EHRbase's too), else the text."""
    try:
        body = response.json()
    except ValueError:
        body = None
    message = body.get("message") if isinstance(body, dict) else None
    return str(message)[:500] if message else (response.text[:500] or "no reason given")


def _summary(row: list[Any]) -> CompositionSummary:
    uid, name, composer, start = row[0], row[1], row[2], row[3]
    return CompositionSummary(
        uid=VersionUid.parse(str(uid)), name=str(name),
        composer_name=composer if isinstance(composer, str) else None,
        start_time=parse_time(start),
    )


class EhrbaseCompositionGateway:
    """The one EHRbase adapter for every unit of work; EHRbase keeps its own transactions."""

    def __init__(self, adapter: EhrbaseCompositionStore) -> None:
        self._adapter = adapter

    def store(self, db: AsyncSession) -> CompositionStore:
        return self._adapter

    async def ping(self) -> bool:
        return await self._adapter.available()

    async def aclose(self) -> None:
        await self._adapter.client.aclose()
