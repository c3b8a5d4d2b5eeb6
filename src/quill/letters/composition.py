"""The letter COMPOSITION: the one place that builds and reads its canonical JSON.

A letter is an ``openEHR-EHR-COMPOSITION.report.v1`` whose name is the title, whose
composer is the author (name, and email as an identifier), whose context start time is
when it was written, and whose content is one ``openEHR-EHR-EVALUATION.clinical_synopsis.v1``
holding the Markdown body as text. The shape matches ``templates/quill_letter.opt``.
"""

from __future__ import annotations

from dataclasses import dataclass
from datetime import datetime
from typing import Any

from quill.errors import Invalid
from quill.openehr.port import Composition, format_time, parse_time

TEMPLATE_ID = "quill_letter.v1"
ARCHETYPE_ID = "openEHR-EHR-COMPOSITION.report.v1"
SYNOPSIS_ID = "openEHR-EHR-EVALUATION.clinical_synopsis.v1"
RM_VERSION = "1.0.4"
EMAIL_ID_TYPE = "email"


@dataclass(frozen=True)
class Letter:
    title: str
    body: str
    author_name: str | None
    author_email: str | None
    created_at: datetime


def _text(value: str) -> dict[str, Any]:
    return {"_type": "DV_TEXT", "value": value}


def _code(terminology: str, code: str) -> dict[str, Any]:
    return {"_type": "CODE_PHRASE", "terminology_id": {"_type": "TERMINOLOGY_ID",
                                                       "value": terminology},
            "code_string": code}


def _coded(value: str, terminology: str, code: str) -> dict[str, Any]:
    return {"_type": "DV_CODED_TEXT", "value": value, "defining_code": _code(terminology, code)}


def _composer(letter: Letter) -> dict[str, Any]:
    composer: dict[str, Any] = {"_type": "PARTY_IDENTIFIED",
                                "name": letter.author_name or "Unknown author"}
    if letter.author_email:
        composer["identifiers"] = [{"_type": "DV_IDENTIFIER", "id": letter.author_email,
                                    "type": EMAIL_ID_TYPE}]
    return composer


def _synopsis(body: str) -> dict[str, Any]:
    return {
        "_type": "EVALUATION",
        "name": _text("Clinical synopsis"),
        "archetype_node_id": SYNOPSIS_ID,
        "archetype_details": {"_type": "ARCHETYPED",
                              "archetype_id": {"_type": "ARCHETYPE_ID", "value": SYNOPSIS_ID},
                              "rm_version": RM_VERSION},
        "language": _code("ISO_639-1", "en"),
        "encoding": _code("IANA_character-sets", "UTF-8"),
        "subject": {"_type": "PARTY_SELF"},
        "data": {
            "_type": "ITEM_TREE", "name": _text("List"), "archetype_node_id": "at0001",
            "items": [{"_type": "ELEMENT", "name": _text("Synopsis"),
                       "archetype_node_id": "at0002", "value": _text(body)}],
        },
    }


def build_letter(letter: Letter) -> Composition:
    """The canonical JSON COMPOSITION for a letter."""
    return {
        "_type": "COMPOSITION",
        "name": _text(letter.title),
        "archetype_node_id": ARCHETYPE_ID,
        "archetype_details": {
            "_type": "ARCHETYPED",
            "archetype_id": {"_type": "ARCHETYPE_ID", "value": ARCHETYPE_ID},
            "template_id": {"_type": "TEMPLATE_ID", "value": TEMPLATE_ID},
            "rm_version": RM_VERSION,
        },
        "language": _code("ISO_639-1", "en"),
        "territory": _code("ISO_3166-1", "GB"),
        "category": _coded("event", "openehr", "433"),
        "composer": _composer(letter),
        "context": {
            "_type": "EVENT_CONTEXT",
            "start_time": {"_type": "DV_DATE_TIME", "value": format_time(letter.created_at)},
            "setting": _coded("other care", "openehr", "238"),
        },
        "content": [_synopsis(letter.body)],
    }


def _email_of(composer: dict[str, Any]) -> str | None:
    for identifier in composer.get("identifiers") or []:
        if isinstance(identifier, dict) and identifier.get("type") == EMAIL_ID_TYPE:
            value = identifier.get("id")
            return value if isinstance(value, str) else None
    return None


def _body_of(content: list[Any]) -> str:
    for entry in content:
        if isinstance(entry, dict) and entry.get("archetype_node_id") == SYNOPSIS_ID:
            for item in entry["data"]["items"]:
                if item.get("archetype_node_id") == "at0002":
                    return str(item["value"]["value"])
    return ""


def read_letter(composition: Composition) -> Letter:
    """A Letter from its COMPOSITION; Invalid when the composition is not a letter."""
    if composition.get("archetype_node_id") != ARCHETYPE_ID:
        raise Invalid("Composition is not a letter")
    try:
        composer = composition.get("composer") or {}
        name = composer.get("name")
        return Letter(
            title=str(composition["name"]["value"]),
            body=_body_of(composition.get("content") or []),
            author_name=name if isinstance(name, str) else None,
            author_email=_email_of(composer),
            created_at=parse_time(composition["context"]["start_time"]["value"]),
        )
    except (KeyError, TypeError, AttributeError) as exc:
        raise Invalid("Composition is not a well-formed letter") from exc
