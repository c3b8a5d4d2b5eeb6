"""Transaction placeholders (R4 3.1.0.11.2): entries name each other by their ``fullUrl``
(``urn:uuid:...`` or ``urn:oid:...``); once ids are assigned, every mention of a fullUrl
in the other entries' resources becomes the assigned ``Type/id``."""

from __future__ import annotations

import re
from collections.abc import Iterable, Mapping
from typing import Any

from quill.errors import Invalid
from quill.fhir.port import Resource

PLACEHOLDER_PREFIXES = ("urn:uuid:", "urn:oid:")
# Narrative links: the XHTML of Narrative.div points at entries through href/src.
# Elements of type uri/url/canonical that may name an entry (Attachment.url, valueUri, ...);
# string elements such as Identifier.value keep a urn:uuid value as the client wrote it.
_URI_KEYS = frozenset({"reference", "url", "valueUri", "valueUrl", "valueCanonical",
                       "valueOid", "valueUuid"})
_NARRATIVE_LINK = re.compile(r'(\b(?:href|src)\s*=\s*)(["\'])(urn:(?:uuid|oid):[^"\']+)\2')


def is_placeholder(value: str) -> bool:
    return value.startswith(PLACEHOLDER_PREFIXES)


def check_full_urls(full_urls: Iterable[str | None]) -> None:
    """Two entries may not claim one fullUrl: references to it would be ambiguous."""
    seen: set[str] = set()
    for url in full_urls:
        if url is None:
            continue
        if url in seen:
            raise Invalid(f"Two transaction entries share the fullUrl {url[:100]!r}")
        seen.add(url)


def _narrative(text: str, aliases: Mapping[str, str]) -> str:
    def replace(match: re.Match[str]) -> str:
        target = aliases.get(match.group(3), match.group(3))
        return f"{match.group(1)}{match.group(2)}{target}{match.group(2)}"

    return _NARRATIVE_LINK.sub(replace, text)


def _rewrite(value: Any, aliases: Mapping[str, str], key: str) -> Any:
    if isinstance(value, dict):
        return {k: _rewrite(v, aliases, k) for k, v in value.items()}
    if isinstance(value, list):
        return [_rewrite(item, aliases, key) for item in value]
    if not isinstance(value, str):
        return value
    if key == "div":
        return _narrative(value, aliases)
    if key in _URI_KEYS and value in aliases:
        return aliases[value]
    if key == "reference" and is_placeholder(value):
        raise Invalid(f"Reference {value[:100]!r} names no entry of this transaction")
    return value


def resolve_placeholders(resource: Resource, aliases: Mapping[str, str]) -> Resource:
    """A copy of ``resource`` with every fullUrl of ``aliases`` replaced by its
    ``Type/id``; a Reference to a placeholder no entry declares is a 400."""
    result: Resource = _rewrite(resource, aliases, "")
    return result
