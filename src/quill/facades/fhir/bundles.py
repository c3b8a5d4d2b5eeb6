"""Bundles the facade sends (searchset, history, transaction-response) and the
transaction Bundle it accepts."""

from __future__ import annotations

from collections.abc import Sequence
from typing import Any

from quill.errors import Invalid
from quill.fhir.port import (
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


def _entry(item: Any) -> TransactionEntry:
    if not isinstance(item, dict) or not isinstance(item.get("request"), dict):
        raise Invalid("Every transaction entry needs a request")
    request = item["request"]
    method, url = str(request.get("method", "")).upper(), str(request.get("url", ""))
    resource = item.get("resource")
    if method == "DELETE":
        kind, ident = split_reference(url.split("?")[0])
        if kind is None:
            raise Invalid("DELETE entries need a Type/id url")
        return Delete(kind, ident)
    if not isinstance(resource, dict):
        raise Invalid(f"{method or 'The'} entry needs a resource")
    if method == "POST":
        return Create(resource)
    if method == "PUT":
        kind, ident = split_reference(url.split("?")[0])
        if kind != resource.get("resourceType") or resource.setdefault("id", ident) != ident:
            raise Invalid("PUT entry url does not match its resource")
        if_match = request.get("ifMatch")
        return Put(resource, parse_etag(if_match) if isinstance(if_match, str) else None)
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
