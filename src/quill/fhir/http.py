"""FHIR store adapter for a real FHIR R4 server (HAPI FHIR, another Quill's facade, ...)."""

from __future__ import annotations

import asyncio
import json
import uuid
from collections.abc import Sequence
from datetime import datetime
from typing import Any
from urllib.parse import unquote, urlsplit

import httpx
from sqlalchemy.ext.asyncio import AsyncSession

from quill.errors import (
    Conflict,
    Gone,
    Invalid,
    NotFound,
    PreconditionFailed,
    QuillError,
    Unprocessable,
    Upstream,
    UpstreamTimeout,
)
from quill.fhir.conditional import criteria_query
from quill.fhir.patient_listing import SearchPatientLister
from quill.fhir.port import (
    ConditionalDelete,
    ConditionalPut,
    Create,
    FhirStore,
    HistoryEntry,
    PatientLister,
    Put,
    Resource,
    SearchPage,
    SearchParams,
    TransactionEntry,
    TransactionResult,
    check_id,
    etag,
    parse_etag,
)
from quill.fhir.query import parse_search
from quill.fhir.validation import check_type, validate_for_write, validate_resource

FHIR_JSON = "application/fhir+json"
READ_ATTEMPTS = 3
RETRY_STATUSES = frozenset({502, 503, 504})
RETRY_BACKOFF_SECONDS = 0.2


def outcome_message(body: Any) -> tuple[str, list[str]]:
    """The first diagnostic of an OperationOutcome, plus every issue's text."""
    if not isinstance(body, dict) or body.get("resourceType") != "OperationOutcome":
        return "", []
    texts: list[str] = []
    for issue in body.get("issue") or []:
        if isinstance(issue, dict):
            details = issue.get("details") if isinstance(issue.get("details"), dict) else {}
            text = issue.get("diagnostics") or (details or {}).get("text")
            if isinstance(text, str):
                texts.append(text)
    return (texts[0] if texts else ""), texts


def error_for(status: int, body: Any, what: str) -> QuillError:
    message, issues = outcome_message(body)
    message = message or f"FHIR server answered {status}"
    if status == 410:
        return Gone(message)
    if status == 404:
        return NotFound(message)
    if status == 400:
        return Invalid(message)
    if status == 409:
        return Conflict(message)
    if status == 412:
        return PreconditionFailed(message)
    if status == 422:
        return Unprocessable({"message": message, "error_code": "invalid_resource",
                              "issues": issues})
    return Upstream(f"{what}: FHIR server answered {status}: {message[:300]}")


_DEFAULT_PORTS = {"http": 80, "https": 443}


def _without_dot_segments(segments: list[str]) -> list[str] | None:
    """``segments`` with ``.`` and ``..`` resolved (RFC 3986 5.2.4), matched after
    percent-decoding; None when a segment hides a separator or climbs above the root."""
    kept: list[str] = []
    for segment in segments:
        decoded = unquote(segment)
        if "/" in decoded or "\\" in decoded:
            return None
        if decoded == "..":
            if not kept:
                return None
            kept.pop()
        elif decoded != ".":
            kept.append(segment)
    return kept


def _parse_instant(value: Any) -> datetime | None:
    if not isinstance(value, str):
        return None
    try:
        return datetime.fromisoformat(value.replace("Z", "+00:00"))
    except ValueError:
        return None


class HttpFhirStore:
    def __init__(self, base_url: str, *, token: str = "", timeout_seconds: float = 10.0,
                 transport: httpx.AsyncBaseTransport | None = None) -> None:
        self.base_url = base_url.rstrip("/")
        parts = urlsplit(self.base_url)
        self._origin = f"{parts.scheme}://{parts.netloc}"
        self._base_path = parts.path.rstrip("/")
        self._base_segments = self._base_path.split("/")[1:]
        self._endpoint = (parts.scheme.lower(), parts.hostname,
                          parts.port or _DEFAULT_PORTS.get(parts.scheme.lower()))
        headers = {"Accept": FHIR_JSON}
        if token:
            headers["Authorization"] = f"Bearer {token}"
        self._http = httpx.AsyncClient(base_url=self.base_url + "/", headers=headers,
                                       timeout=timeout_seconds, transport=transport)

    async def aclose(self) -> None:
        await self._http.aclose()

    async def _send(self, method: str, url: str, **kwargs: Any) -> httpx.Response:
        attempts = READ_ATTEMPTS if method == "GET" else 1
        what = f"{method} {url.split('?')[0][:120]}"
        for attempt in range(1, attempts + 1):
            try:
                response = await self._http.request(method, url, **kwargs)
            except httpx.TimeoutException as exc:
                error: Upstream = UpstreamTimeout(f"{what}: timed out ({exc!r})")
            except httpx.HTTPError as exc:
                error = Upstream(f"{what}: {exc!r}")
            else:
                if response.status_code not in RETRY_STATUSES or attempt == attempts:
                    return self._checked(response, what)
                error = Upstream(f"{what}: FHIR server answered {response.status_code}")
            if attempt == attempts:
                raise error
            await asyncio.sleep(RETRY_BACKOFF_SECONDS * attempt)
        raise AssertionError("unreachable")  # pragma: no cover

    def _checked(self, response: httpx.Response, what: str) -> httpx.Response:
        if response.status_code < 400:
            return response
        try:
            body = response.json()
        except ValueError:
            body = None
        raise error_for(response.status_code, body, what)

    def _json(self, response: httpx.Response) -> Any:
        try:
            return response.json()
        except (ValueError, json.JSONDecodeError) as exc:
            raise Upstream(f"FHIR server sent invalid JSON ({response.status_code})") from exc

    def _resource(self, body: Any, resource_type: str | None = None) -> Resource:
        try:
            return validate_resource(body, resource_type)
        except QuillError as exc:
            raise Upstream(f"FHIR server sent an invalid resource: {exc.detail!r}") from exc

    async def _stored(self, response: httpx.Response, resource_type: str) -> Resource:
        if response.content:
            return self._resource(self._json(response), resource_type)
        location = response.headers.get("location") or response.headers.get("content-location")
        if not location:
            raise Upstream("FHIR server sent neither a resource nor a Location")
        return self._resource(self._json(await self._send("GET", self._follow(location))),
                              resource_type)

    def _follow(self, url: str) -> str:
        """A server-supplied URL, kept under the configured base (never another host or path).

        Checked after dot segments are resolved (``%2e`` included), so ``base/../admin``
        is refused before any request carries the token.
        """
        try:
            parts = urlsplit(url)
            port = parts.port
        except ValueError as exc:
            raise Upstream("Paging link is not a valid URL") from exc
        if parts.netloc and (
                parts.scheme.lower(), parts.hostname, port or _DEFAULT_PORTS.get(parts.scheme),
                parts.username, parts.password) != (*self._endpoint, None, None):
            raise Upstream("Paging link does not belong to the FHIR server")
        raw = parts.path if parts.path.startswith("/") else f"{self._base_path}/{parts.path}"
        segments = _without_dot_segments(raw.split("/")[1:])
        if segments is None or segments[:len(self._base_segments)] != self._base_segments \
                or len(segments) <= len(self._base_segments):
            raise Upstream("Paging link does not lie under the FHIR server's base")
        path = "/" + "/".join(segments)
        return f"{self._origin}{path}" + (f"?{parts.query}" if parts.query else "")

    async def create(self, resource: Resource) -> Resource:
        validate_for_write(resource)
        body = {k: v for k, v in resource.items() if k != "id"}
        response = await self._send("POST", resource["resourceType"], json=body,
                                    headers={"Prefer": "return=representation",
                                             "Content-Type": FHIR_JSON})
        return await self._stored(response, resource["resourceType"])

    async def read(self, resource_type: str, resource_id: str) -> Resource:
        check_type(resource_type)
        response = await self._send("GET", f"{resource_type}/{check_id(resource_id)}")
        return self._resource(self._json(response), resource_type)

    async def vread(self, resource_type: str, resource_id: str, version_id: str) -> Resource:
        check_type(resource_type)
        path = f"{resource_type}/{check_id(resource_id)}/_history/{check_id(version_id)}"
        return self._resource(self._json(await self._send("GET", path)), resource_type)

    async def update(self, resource: Resource, *, expected_version: str | None = None
                     ) -> Resource:
        validate_for_write(resource)
        resource_id = resource.get("id")
        if not isinstance(resource_id, str):
            raise Invalid("An update needs the resource id")
        headers = {"Prefer": "return=representation", "Content-Type": FHIR_JSON}
        if expected_version is not None:
            headers["If-Match"] = etag(expected_version)
        response = await self._send("PUT", f"{resource['resourceType']}/{check_id(resource_id)}",
                                    json=resource, headers=headers)
        return await self._stored(response, resource["resourceType"])

    async def delete(self, resource_type: str, resource_id: str) -> None:
        check_type(resource_type)
        try:
            await self._send("DELETE", f"{resource_type}/{check_id(resource_id)}")
        except NotFound:
            return

    async def search(self, resource_type: str, params: SearchParams | None = None, *,
                     count: int | None = None, cursor: str | None = None,
                     total: bool = True) -> SearchPage:
        # The server counts as it answers: its total is passed on whether asked for or not.
        del total
        check_type(resource_type)
        parsed = parse_search(resource_type, params, count)
        if cursor:
            response = await self._send("GET", self._follow(cursor))
        else:
            query = [(name, value) for name, raw in (params or {}).items()
                     if name not in ("_count", "_total")
                     for value in ([raw] if isinstance(raw, str) else raw)]
            # HAPI may leave Bundle.total out of large result sets unless asked for it.
            query += [("_count", str(parsed.count)), ("_total", "accurate")]
            response = await self._send("GET", resource_type, params=query)
        return self._page(self._json(response))

    def _page(self, bundle: Any) -> SearchPage:
        if not isinstance(bundle, dict) or bundle.get("resourceType") != "Bundle":
            raise Upstream("FHIR search did not answer with a Bundle")
        resources = [self._resource(entry["resource"]) for entry in bundle.get("entry") or []
                     if isinstance(entry, dict) and isinstance(entry.get("resource"), dict)
                     and (entry.get("search") or {}).get("mode", "match") == "match"]
        next_url = next((link.get("url") for link in bundle.get("link") or []
                         if isinstance(link, dict) and link.get("relation") == "next"), None)
        total = bundle.get("total")
        return SearchPage(resources, total if isinstance(total, int) else None,
                          next_url if isinstance(next_url, str) else None)

    async def history(self, resource_type: str, resource_id: str) -> list[HistoryEntry]:
        check_type(resource_type)
        bundle = self._json(await self._send(
            "GET", f"{resource_type}/{check_id(resource_id)}/_history"))
        return [self._history_entry(entry) for entry in (bundle or {}).get("entry") or []
                if isinstance(entry, dict)]

    def _history_entry(self, entry: dict[str, Any]) -> HistoryEntry:
        raw = entry.get("resource")
        resource = self._resource(raw) if isinstance(raw, dict) else None
        response = entry.get("response") or {}
        method = str((entry.get("request") or {}).get("method", "PUT")).upper()
        meta = (resource or {}).get("meta") or {}
        version = meta.get("versionId") or parse_etag(str(response.get("etag", "")))
        when = _parse_instant(meta.get("lastUpdated") or response.get("lastModified"))
        if resource is None:
            return HistoryEntry(str(version), when, "DELETE", None)
        return HistoryEntry(str(version), when, "POST" if method == "POST" else "PUT", resource)

    async def transaction(self, entries: Sequence[TransactionEntry]
                          ) -> list[TransactionResult]:
        bundle = {"resourceType": "Bundle", "type": "transaction",
                  "entry": [self._bundle_entry(entry) for entry in entries]}
        response = await self._send("POST", "", json=bundle,
                                    headers={"Prefer": "return=representation",
                                             "Content-Type": FHIR_JSON})
        body = self._json(response)
        answered = body.get("entry") if isinstance(body, dict) else None
        if not isinstance(answered, list) or len(answered) != len(entries):
            raise Upstream("FHIR transaction response does not match the request")
        return [await self._result(item, entry) for item, entry in zip(answered, entries,
                                                                       strict=True)]

    def _bundle_entry(self, entry: TransactionEntry) -> dict[str, Any]:
        if isinstance(entry, Create):
            validate_for_write(entry.resource)
            body = {k: v for k, v in entry.resource.items() if k != "id"}
            request: dict[str, str] = {"method": "POST", "url": entry.resource["resourceType"]}
            if entry.if_none_exist is not None:
                request["ifNoneExist"] = criteria_query(entry.resource["resourceType"],
                                                        entry.if_none_exist)
            return {"fullUrl": entry.full_url or f"urn:uuid:{uuid.uuid4()}", "resource": body,
                    "request": request}
        if isinstance(entry, Put | ConditionalPut):
            return self._put_entry(entry)
        check_type(entry.resource_type)
        if isinstance(entry, ConditionalDelete):
            query = criteria_query(entry.resource_type, entry.criteria)
            return {"request": {"method": "DELETE", "url": f"{entry.resource_type}?{query}"}}
        return {"request": {"method": "DELETE",
                            "url": f"{entry.resource_type}/{check_id(entry.resource_id)}"}}

    def _put_entry(self, entry: Put | ConditionalPut) -> dict[str, Any]:
        validate_for_write(entry.resource)
        kind = entry.resource["resourceType"]
        if isinstance(entry, ConditionalPut):
            request = {"method": "PUT", "url": f"{kind}?{criteria_query(kind, entry.criteria)}"}
        else:
            resource_id = entry.resource.get("id")
            if not isinstance(resource_id, str):
                raise Invalid("An update needs the resource id")
            request = {"method": "PUT", "url": f"{kind}/{check_id(resource_id)}"}
            if entry.expected_version is not None:
                request["ifMatch"] = etag(entry.expected_version)
        item: dict[str, Any] = {"resource": entry.resource, "request": request}
        if entry.full_url is not None:
            item["fullUrl"] = entry.full_url
        return item

    async def _result(self, item: Any, entry: TransactionEntry) -> TransactionResult:
        response = (item or {}).get("response") or {} if isinstance(item, dict) else {}
        created = str(response.get("status", "")).startswith("201")
        if not isinstance(entry, Create | Put | ConditionalPut):
            return TransactionResult(None)
        # A conditional create that found its match answers 200: nothing was written.
        written = created or not (isinstance(entry, Create) and entry.if_none_exist)
        resource = item.get("resource") if isinstance(item, dict) else None
        if isinstance(resource, dict):
            return TransactionResult(self._resource(resource), created, written)
        location = response.get("location")
        if not isinstance(location, str):
            raise Upstream("FHIR transaction entry has neither resource nor location")
        fetched = self._json(await self._send("GET", self._follow(location)))
        return TransactionResult(self._resource(fetched), created, written)

    async def metadata_ok(self) -> bool:
        response = await self._send("GET", "metadata")
        return response.status_code == 200


class HttpFhirGateway:
    external = True

    def __init__(self, store: HttpFhirStore) -> None:
        self._store = store

    def store(self, db: AsyncSession) -> FhirStore:
        return self._store

    def patient_lister(self, db: AsyncSession, store: FhirStore) -> PatientLister:
        # The server holds the Patients, the database the allowed ids: ask for those only.
        return SearchPatientLister(db, store)

    async def ping(self) -> bool:
        return await self._store.metadata_ok()

    async def aclose(self) -> None:
        await self._store.aclose()
