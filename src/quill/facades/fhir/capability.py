"""The CapabilityStatement: generated from the same tables the stores use, so it lists
exactly what is supported."""

from __future__ import annotations

from datetime import datetime
from typing import Any

from quill.facades.fhir.patching import JSON_PATCH
from quill.facades.fhir.results import include_names
from quill.fhir.query import COMMON
from quill.fhir.searchparams import SUPPORTED_TYPES

_INTERACTIONS = ["read", "vread", "update", "patch", "delete", "history-instance", "create",
                 "search-type"]
_COMMON_DOCS = {"_id": "logical id", "_lastUpdated": "eq/ge/le/gt/lt on meta.lastUpdated"}


def _search_params(resource_type: str) -> list[dict[str, str]]:
    params = [{"name": name, "type": kind if name != "_id" else "token",
               "documentation": _COMMON_DOCS[name]} for name, kind in COMMON.items()]
    params += [{"name": d.name, "type": d.kind, "documentation": d.documentation}
               for d in SUPPORTED_TYPES[resource_type].values()]
    return params


def capability_statement(base_url: str, now: datetime) -> dict[str, Any]:
    resources = [{
        "type": resource_type,
        "interaction": [{"code": code} for code in _INTERACTIONS],
        "versioning": "versioned-update",
        "readHistory": True,
        "updateCreate": True,
        "conditionalCreate": True,
        "conditionalUpdate": True,
        "conditionalDelete": "single",
        "searchInclude": include_names(resource_type),
        "searchParam": _search_params(resource_type),
    } for resource_type in SUPPORTED_TYPES]
    return {
        "resourceType": "CapabilityStatement",
        "status": "active",
        "date": now.date().isoformat(),
        "kind": "instance",
        "software": {"name": "Quill"},
        "implementation": {"description": "Quill FHIR facade", "url": base_url},
        "fhirVersion": "4.0.1",
        "format": ["application/fhir+json", "json"],
        "patchFormat": [JSON_PATCH],
        "rest": [{
            "mode": "server",
            "documentation": ("Search result parameters: _count (default 50, max 200), "
                              "_sort=_lastUpdated|-_lastUpdated, _summary=count, _include "
                              "(see searchInclude); paging by the next link."),
            "security": {"description": "Admin session or bearer service token"},
            "resource": resources,
            "interaction": [{"code": "transaction"}],
        }],
    }
