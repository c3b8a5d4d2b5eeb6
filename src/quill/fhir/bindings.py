"""Required bindings Quill checks on write: codes whose R4 value set is closed.

The R4B models accept any string in a ``code`` element, so a MedicationRequest with
``status: bogus`` would pass them; a FHIR server must refuse it.
"""

from __future__ import annotations

from quill.fhir.port import Resource

# (resource type, element) -> the codes of its R4 value set.
REQUIRED_BINDINGS: dict[tuple[str, str], frozenset[str]] = {
    ("Patient", "gender"): frozenset({"male", "female", "other", "unknown"}),
    ("MedicationRequest", "status"): frozenset({
        "active", "on-hold", "cancelled", "completed", "entered-in-error", "stopped",
        "draft", "unknown"}),
    ("MedicationRequest", "intent"): frozenset({
        "proposal", "plan", "order", "original-order", "reflex-order", "filler-order",
        "instance-order", "option"}),
    ("Communication", "status"): frozenset({
        "preparation", "in-progress", "not-done", "on-hold", "stopped", "completed",
        "entered-in-error", "unknown"}),
}


def binding_issues(resource: Resource) -> list[str]:
    """One message per element whose code is outside its required value set."""
    kind = resource.get("resourceType")
    issues: list[str] = []
    for (resource_type, element), codes in REQUIRED_BINDINGS.items():
        if resource_type != kind or element not in resource:
            continue
        value = resource[element]
        if value not in codes:
            shown = str(value)[:40]
            issues.append(f"{element}: {shown!r} is not one of {', '.join(sorted(codes))}")
    return issues
