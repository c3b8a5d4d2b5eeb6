"""The Reference Model shape of canonical JSON: which attributes each RM type has.

An openEHR server deserialises a COMPOSITION into RM objects before it looks at any
template, so an attribute the RM does not define, an unknown ``_type`` or a missing
mandatory attribute is a 400 there ("could not be converted to a COMPOSITION"). This
module checks the same for the RM types Quill's compositions and their content use; a
type outside this subset is refused rather than stored unchecked.
"""

from __future__ import annotations

from typing import Any

from quill.errors import Invalid

# Attribute -> declared type. "T[]" is a list of T; None is a primitive (or a structure
# Quill does not look into).
_LOCATABLE: dict[str, str | None] = {
    "name": "DV_TEXT", "archetype_node_id": None, "uid": "UID_BASED_ID", "links": None,
    "archetype_details": "ARCHETYPED", "feeder_audit": None,
}
_ENTRY: dict[str, str | None] = {**_LOCATABLE, "language": "CODE_PHRASE", "encoding": "CODE_PHRASE",
          "subject": "PARTY_PROXY", "provider": "PARTY_PROXY", "other_participations": None,
          "workflow_id": None}
_CARE_ENTRY: dict[str, str | None] = {**_ENTRY, "protocol": "ITEM_STRUCTURE", "guideline_id": None}
_DV_TEXT: dict[str, str | None] = {
    "value": None, "hyperlink": None, "formatting": None, "mappings": None,
    "language": "CODE_PHRASE", "encoding": "CODE_PHRASE"}
_ORDERED: dict[str, str | None] = {"normal_status": "CODE_PHRASE", "normal_range": None,
            "other_reference_ranges": None, "magnitude_status": None, "accuracy": None}
_PARTY: dict[str, str | None] = {"external_ref": "PARTY_REF"}
_ID: dict[str, str | None] = {"value": None}

RM_TYPES: dict[str, dict[str, str | None]] = {
    "COMPOSITION": {**_LOCATABLE, "language": "CODE_PHRASE", "territory": "CODE_PHRASE",
                    "category": "DV_CODED_TEXT", "composer": "PARTY_PROXY",
                    "context": "EVENT_CONTEXT", "content": "CONTENT_ITEM[]"},
    "EVENT_CONTEXT": {"start_time": "DV_DATE_TIME", "end_time": "DV_DATE_TIME",
                      "location": None, "setting": "DV_CODED_TEXT",
                      "other_context": "ITEM_STRUCTURE",
                      "health_care_facility": "PARTY_IDENTIFIED", "participations": None},
    "SECTION": {**_LOCATABLE, "items": "CONTENT_ITEM[]"},
    "EVALUATION": {**_CARE_ENTRY, "data": "ITEM_STRUCTURE"},
    "OBSERVATION": {**_CARE_ENTRY, "data": "HISTORY", "state": "HISTORY"},
    "ADMIN_ENTRY": {**_ENTRY, "data": "ITEM_STRUCTURE"},
    "HISTORY": {**_LOCATABLE, "origin": "DV_DATE_TIME", "period": None, "duration": None,
                "summary": "ITEM_STRUCTURE", "events": "EVENT[]"},
    "POINT_EVENT": {**_LOCATABLE, "time": "DV_DATE_TIME", "data": "ITEM_STRUCTURE",
                    "state": "ITEM_STRUCTURE"},
    "INTERVAL_EVENT": {**_LOCATABLE, "time": "DV_DATE_TIME", "data": "ITEM_STRUCTURE",
                       "state": "ITEM_STRUCTURE", "width": None,
                       "math_function": "DV_CODED_TEXT", "sample_count": None},
    "ITEM_TREE": {**_LOCATABLE, "items": "ITEM[]"},
    "ITEM_LIST": {**_LOCATABLE, "items": "ELEMENT[]"},
    "ITEM_SINGLE": {**_LOCATABLE, "item": "ELEMENT"},
    "CLUSTER": {**_LOCATABLE, "items": "ITEM[]"},
    "ELEMENT": {**_LOCATABLE, "value": "DATA_VALUE", "null_flavour": "DV_CODED_TEXT",
                "null_reason": "DV_TEXT"},
    "PARTY_SELF": _PARTY,
    "PARTY_IDENTIFIED": {**_PARTY, "name": None, "identifiers": "DV_IDENTIFIER[]"},
    "PARTY_RELATED": {**_PARTY, "name": None, "identifiers": "DV_IDENTIFIER[]",
                      "relationship": "DV_CODED_TEXT"},
    "PARTY_REF": {"namespace": None, "type": None, "id": "OBJECT_ID"},
    "ARCHETYPED": {"archetype_id": "ARCHETYPE_ID", "template_id": "TEMPLATE_ID",
                   "rm_version": None},
    "CODE_PHRASE": {"terminology_id": "TERMINOLOGY_ID", "code_string": None,
                    "preferred_term": None},
    "HIER_OBJECT_ID": _ID, "OBJECT_VERSION_ID": _ID, "ARCHETYPE_ID": _ID,
    "TEMPLATE_ID": _ID, "TERMINOLOGY_ID": _ID, "GENERIC_ID": {"value": None, "scheme": None},
    "DV_TEXT": _DV_TEXT,
    "DV_CODED_TEXT": {**_DV_TEXT, "defining_code": "CODE_PHRASE"},
    "DV_IDENTIFIER": {"issuer": None, "assigner": None, "id": None, "type": None},
    "DV_BOOLEAN": {"value": None},
    "DV_DATE_TIME": {**_ORDERED, "value": None},
    "DV_DATE": {**_ORDERED, "value": None},
    "DV_TIME": {**_ORDERED, "value": None},
    "DV_COUNT": {**_ORDERED, "magnitude": None, "accuracy_is_percent": None},
    "DV_QUANTITY": {**_ORDERED, "magnitude": None, "units": None, "precision": None,
                    "units_system": None, "units_display_name": None,
                    "accuracy_is_percent": None},
}

# Abstract types name the concrete types a value may be; a value of one needs `_type`.
_ABSTRACT: dict[str, frozenset[str]] = {
    "PARTY_PROXY": frozenset({"PARTY_SELF", "PARTY_IDENTIFIED", "PARTY_RELATED"}),
    "CONTENT_ITEM": frozenset({"SECTION", "EVALUATION", "OBSERVATION", "ADMIN_ENTRY"}),
    "ITEM_STRUCTURE": frozenset({"ITEM_TREE", "ITEM_LIST", "ITEM_SINGLE"}),
    "ITEM": frozenset({"CLUSTER", "ELEMENT"}),
    "EVENT": frozenset({"POINT_EVENT", "INTERVAL_EVENT"}),
    "UID_BASED_ID": frozenset({"HIER_OBJECT_ID", "OBJECT_VERSION_ID"}),
    "OBJECT_ID": frozenset({"HIER_OBJECT_ID", "OBJECT_VERSION_ID", "GENERIC_ID",
                            "ARCHETYPE_ID", "TEMPLATE_ID", "TERMINOLOGY_ID"}),
    "DATA_VALUE": frozenset(name for name in RM_TYPES if name.startswith("DV_")),
}
_SUBTYPES = {"DV_TEXT": frozenset({"DV_TEXT", "DV_CODED_TEXT"}),
             "PARTY_IDENTIFIED": frozenset({"PARTY_IDENTIFIED", "PARTY_RELATED"})}

# Attributes the RM makes mandatory (beyond LOCATABLE's name and archetype_node_id).
_REQUIRED: dict[str, tuple[str, ...]] = {
    "COMPOSITION": ("language", "territory", "category", "composer"),
    "EVENT_CONTEXT": ("start_time", "setting"),
    "EVALUATION": ("language", "encoding", "subject", "data"),
    "OBSERVATION": ("language", "encoding", "subject", "data"),
    "ADMIN_ENTRY": ("language", "encoding", "subject", "data"),
    "CODE_PHRASE": ("terminology_id", "code_string"),
    "DV_TEXT": ("value",), "DV_CODED_TEXT": ("value", "defining_code"),
    "DV_DATE_TIME": ("value",), "PARTY_REF": ("namespace", "type", "id"),
    "ARCHETYPED": ("archetype_id", "rm_version"),
}


def conforms(actual: str, declared: str) -> bool:
    """Whether a value of RM type ``actual`` may stand where ``declared`` is expected."""
    if actual == declared:
        return True
    return actual in _ABSTRACT.get(declared, _SUBTYPES.get(declared, frozenset()))


def check_rm(composition: dict[str, Any]) -> None:
    """Invalid (400) listing every RM problem: unknown attributes or types, missing ones."""
    errors: list[str] = []
    _check(composition, "COMPOSITION", "", errors)
    if errors:
        raise Invalid({"message": "Body could not be read as an openEHR COMPOSITION: "
                                  + "; ".join(errors[:5]), "issues": errors})


def _check(value: Any, declared: str, path: str, errors: list[str]) -> None:
    where = path or "/"
    if not isinstance(value, dict):
        errors.append(f"{where}: expected a {declared} object")
        return
    rm_type = value.get("_type", declared)
    if not isinstance(rm_type, str) or rm_type not in RM_TYPES:
        errors.append(f"{where}: {rm_type!r} is not an RM type this server accepts"
                      if "_type" in value else f"{where}: {declared} needs a _type")
        return
    if not conforms(rm_type, declared):
        errors.append(f"{where}: a {rm_type} cannot stand for a {declared}")
        return
    attributes = RM_TYPES[rm_type]
    for name in sorted(set(value) - set(attributes) - {"_type"}):
        errors.append(f"{path}/{name}: {rm_type} has no attribute {name!r}")
    required = _REQUIRED.get(rm_type, ())
    if "archetype_node_id" in attributes:
        required = ("name", "archetype_node_id", *required)
    for name in required:
        if value.get(name) is None:
            errors.append(f"{path}/{name}: required by {rm_type}")
    for name, child_type in attributes.items():
        child = value.get(name)
        if child_type is None or child is None:
            continue
        _check_child(child, child_type, f"{path}/{name}", errors)


def _check_child(child: Any, child_type: str, path: str, errors: list[str]) -> None:
    if not child_type.endswith("[]"):
        _check(child, child_type, path, errors)
        return
    if not isinstance(child, list):
        errors.append(f"{path}: expected a list")
        return
    for index, item in enumerate(child):
        _check(item, child_type[:-2], f"{path}[{index}]", errors)
