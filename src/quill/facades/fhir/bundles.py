"""Bundles the facade sends (searchset, history, transaction-response) and the
transaction Bundle it accepts."""

from __future__ import annotations

from collections.abc import Sequence
from typing import Any

from quill.errors import Invalid
from quill.fhir.port import (
    ConditionalDelete,
    ConditionalPut,
    Create,
    Delete,
    HistoryEntry,
    Put,
    Resource,
    SearchPage,
    TransactionEntry,
    TransactionResult,
    etag,
    parse_etag,
    split_reference,
)

MAX_TRANSACTION_ENTRIES = 100


def search_bundle(base: str, self_url: str, page: SearchPage, next_url: str | None,
                  included: Sequence[Resource] = ()) -> dict[str, Any]:
    links = [{"relation": "self", "url": self_url}]
    if next_url:
        links.append({"relation": "next", "url": next_url})
    entries = [(r, "match") for r in page.resources] + [(r, "include") for r in included]
    return {
        "resourceType": "Bundle", "type": "searchset", "total": page.total, "link": links,
        "entry": [{"fullUrl": f"{base}/{r['resourceType']}/{r['id']}", "resource": r,
                   "search": {"mode": mode}} for r, mode in entries],
    }


def _instant(entry: HistoryEntry) -> str | None:
    if entry.last_updated is None:
        return None
    return entry.last_updated.isoformat(timespec="milliseconds").replace("+00:00", "Z")


def history_bundle(base: str, resource_type: str, resource_id: str,
                   entries: Sequence[HistoryEntry]) -> dict[str, Any]:
    url = f"{resource_type}/{resource_id}"
    items: list[dict[str, Any]] = []
    for entry in entries:
        item: dict[str, Any] = {
            "fullUrl": f"{base}/{url}",
            "request": {"method": entry.method, "url": resource_type if entry.method == "POST"
                        else url},
            "response": {"status": "204" if entry.resource is None else
                         ("201" if entry.method == "POST" else "200"),
                         "etag": etag(entry.version_id)},
        }
        if entry.resource is not None:
            item["resource"] = entry.resource
        if (when := _instant(entry)) is not None:
            item["response"]["lastModified"] = when
        items.append(item)
    return {"resourceType": "Bundle", "type": "history", "total": len(items), "entry": items}


def transaction_bundle(base: str, results: Sequence[TransactionResult]) -> dict[str, Any]:
    items: list[dict[str, Any]] = []
    for result in results:
        if result.resource is None:
            items.append({"response": {"status": "204 No Content"}})
            continue
        r = result.resource
        version = str(r["meta"]["versionId"])
        items.append({
            "fullUrl": f"{base}/{r['resourceType']}/{r['id']}",
            "resource": r,
            "response": {"status": "201 Created" if result.created else "200 OK",
                         "location": f"{r['resourceType']}/{r['id']}/_history/{version}",
                         "etag": etag(version), "lastModified": r["meta"]["lastUpdated"]},
        })
    return {"resourceType": "Bundle", "type": "transaction-response", "entry": items}


def _optional_text(value: Any, what: str) -> str | None:
    if value is None:
        return None
    if not isinstance(value, str) or not value:
        raise Invalid(f"{what} must be a non-empty string")
    return value


def _type_url(url: str) -> tuple[str, str | None, str | None]:
    """``Type/id`` → (Type, id, None); ``Type?criteria`` → (Type, None, criteria)."""
    path, mark, query = url.partition("?")
    if mark:
        if "/" in path.strip("/") or not path.strip("/"):
            raise Invalid("Conditional entries need a Type?criteria url")
        return path.strip("/"), None, query
    kind, ident = split_reference(path)
    if kind is None:
        raise Invalid("Entries need a Type/id url")
    return kind, ident, None


def _delete_entry(url: str) -> TransactionEntry:
    kind, ident, criteria = _type_url(url)
    if criteria is not None:
        return ConditionalDelete(kind, criteria)
    return Delete(kind, str(ident))


def _put_entry(resource: dict[str, Any], request: dict[str, Any], full_url: str | None
               ) -> TransactionEntry:
    kind, ident, criteria = _type_url(str(request.get("url", "")))
    if kind != resource.get("resourceType"):
        raise Invalid("PUT entry url does not match its resource")
    if criteria is not None:
        return ConditionalPut(resource, criteria, full_url)
    if resource.setdefault("id", ident) != ident:
        raise Invalid("PUT entry url does not match its resource")
    if_match = request.get("ifMatch")
    return Put(resource, parse_etag(if_match) if isinstance(if_match, str) else None,
               full_url)


def _entry(item: Any) -> TransactionEntry:
    if not isinstance(item, dict) or not isinstance(item.get("request"), dict):
        raise Invalid("Every transaction entry needs a request")
    request = item["request"]
    method, url = str(request.get("method", "")).upper(), str(request.get("url", ""))
    resource = item.get("resource")
    full_url = _optional_text(item.get("fullUrl"), "fullUrl")
    if method == "DELETE":
        return _delete_entry(url)
    if not isinstance(resource, dict):
        raise Invalid(f"{method or 'The'} entry needs a resource")
    if method == "POST":
        return Create(resource, full_url,
                      _optional_text(request.get("ifNoneExist"), "request.ifNoneExist"))
    if method == "PUT":
        return _put_entry(resource, request, full_url)
    raise Invalid(f"Unsupported transaction method {method[:10]!r}")


def parse_transaction(body: Any) -> list[TransactionEntry]:
    if not isinstance(body, dict) or body.get("resourceType") != "Bundle":
        raise Invalid("POST to the base expects a transaction Bundle")
    if body.get("type") != "transaction":
        raise Invalid("Only Bundle.type = transaction is supported")
    entries = body.get("entry") or []
    if not isinstance(entries, list) or len(entries) > MAX_TRANSACTION_ENTRIES:
        raise Invalid(f"A transaction holds at most {MAX_TRANSACTION_ENTRIES} entries")
    return [_entry(item) for item in entries]
