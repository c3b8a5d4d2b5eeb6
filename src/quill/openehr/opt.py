"""Operational templates (ADL 1.4 OPT XML): read their constraints, check compositions.

A template narrows the RM: which archetypes sit where, which attributes must exist, how
many items a list may hold, which codes a CODE_PHRASE may take. ``check_template`` holds
a canonical COMPOSITION to those constraints; an item the template does not define is
refused, as a template-validating server such as EHRbase refuses it (422).
"""

from __future__ import annotations

import xml.etree.ElementTree as ElementTree
from dataclasses import dataclass
from functools import lru_cache
from typing import Any

from defusedxml import DefusedXmlException
from defusedxml.ElementTree import fromstring

from quill.errors import Invalid, Unprocessable
from quill.openehr.rm import conforms

_NS = "{http://schemas.openehr.org/v1}"
_XSI_TYPE = "{http://www.w3.org/2001/XMLSchema-instance}type"


@dataclass(frozen=True)
class Interval:
    lower: int
    upper: int | None  # None: unbounded

    def holds(self, count: int) -> bool:
        return count >= self.lower and (self.upper is None or count <= self.upper)


@dataclass(frozen=True)
class CAttribute:
    name: str
    existence: Interval
    multiple: bool
    cardinality: Interval | None
    children: tuple[CObject, ...]


@dataclass(frozen=True)
class CObject:
    rm_type: str
    node_id: str
    archetype_id: str | None
    occurrences: Interval
    attributes: tuple[CAttribute, ...]
    terminology: str | None = None
    codes: tuple[str, ...] = ()

    def identifies(self, item: dict[str, Any]) -> bool:
        """Whether this constraint is the one meant for ``item`` (by archetype or node)."""
        if self.archetype_id is not None:
            return item.get("archetype_node_id") == self.archetype_id
        if self.node_id:
            return item.get("archetype_node_id") == self.node_id
        return conforms(str(item.get("_type", self.rm_type)), self.rm_type)


@dataclass(frozen=True)
class Template:
    template_id: str
    root: CObject


def _text(element: ElementTree.Element, tag: str) -> str:
    found = element.find(_NS + tag)
    return (found.text or "").strip() if found is not None else ""


def _interval(element: ElementTree.Element | None, default: Interval) -> Interval:
    if element is None:
        return default
    lower = _text(element, "lower")
    upper = _text(element, "upper")
    unbounded = _text(element, "upper_unbounded") == "true"
    return Interval(int(lower or 0), None if unbounded or not upper else int(upper))


def _object(element: ElementTree.Element) -> CObject:
    archetype = element.find(f"{_NS}archetype_id/{_NS}value")
    terminology = element.find(f"{_NS}terminology_id/{_NS}value")
    return CObject(
        rm_type=_text(element, "rm_type_name"),
        node_id=_text(element, "node_id"),
        archetype_id=(archetype.text or "").strip() if archetype is not None else None,
        occurrences=_interval(element.find(_NS + "occurrences"), Interval(1, 1)),
        attributes=tuple(_attribute(a) for a in element.findall(_NS + "attributes")),
        terminology=(terminology.text or "").strip() if terminology is not None else None,
        codes=tuple((code.text or "").strip() for code in element.findall(_NS + "code_list")),
    )


def _attribute(element: ElementTree.Element) -> CAttribute:
    multiple = element.get(_XSI_TYPE) == "C_MULTIPLE_ATTRIBUTE"
    cardinality = element.find(f"{_NS}cardinality/{_NS}interval")
    return CAttribute(
        name=_text(element, "rm_attribute_name"),
        existence=_interval(element.find(_NS + "existence"), Interval(0, 1)),
        multiple=multiple,
        cardinality=_interval(cardinality, Interval(0, None)) if multiple else None,
        children=tuple(_object(child) for child in element.findall(_NS + "children")),
    )


@lru_cache(maxsize=32)
def parse_template(content: str) -> Template:
    """The constraints of an OPT; Invalid when it is not one this server can read."""
    try:
        # Templates come from callers: no DTDs, entities or external references.
        root = fromstring(content, forbid_dtd=True)
    except DefusedXmlException as exc:
        raise Invalid("Templates with a DOCTYPE or entities are refused") from exc
    except ElementTree.ParseError as exc:
        raise Invalid("Template is not well-formed XML") from exc
    template_id = root.find(f"{_NS}template_id/{_NS}value")
    definition = root.find(_NS + "definition")
    if root.tag != _NS + "template" or template_id is None or definition is None:
        raise Invalid("Body must be an operational template (OPT 1.4 XML) "
                      "with a template_id and a definition")
    try:
        parsed = _object(definition)
    except ValueError as exc:
        raise Invalid("Template has an unreadable interval") from exc
    return Template((template_id.text or "").strip(), parsed)


def check_template(template: Template, composition: dict[str, Any]) -> None:
    """Unprocessable (422) listing every way ``composition`` breaks the template."""
    errors: list[str] = []
    if composition.get("archetype_node_id") != template.root.archetype_id:
        errors.append(f"/: the template's root is {template.root.archetype_id}")
    else:
        _check_object(template.root, composition, "", errors)
    if errors:
        raise Unprocessable({
            "message": f"Composition does not match template {template.template_id}: "
                       + "; ".join(errors[:5]),
            "issues": errors})


def _check_object(constraint: CObject, value: Any, path: str, errors: list[str]) -> None:
    if not isinstance(value, dict):
        errors.append(f"{path or '/'}: expected a {constraint.rm_type}")
        return
    if not conforms(str(value.get("_type", constraint.rm_type)), constraint.rm_type):
        errors.append(f"{path or '/'}: the template expects a {constraint.rm_type}")
        return
    if constraint.codes or constraint.terminology:
        _check_code(constraint, value, path, errors)
    for attribute in constraint.attributes:
        _check_attribute(attribute, value.get(attribute.name), f"{path}/{attribute.name}",
                         errors)


def _check_code(constraint: CObject, value: dict[str, Any], path: str,
                errors: list[str]) -> None:
    terminology = (value.get("terminology_id") or {}).get("value")
    if constraint.terminology and terminology != constraint.terminology:
        errors.append(f"{path}: terminology must be {constraint.terminology}")
    if constraint.codes and value.get("code_string") not in constraint.codes:
        errors.append(f"{path}: code must be one of {', '.join(constraint.codes)}")


def _check_attribute(attribute: CAttribute, value: Any, path: str, errors: list[str]) -> None:
    if value is None:
        if attribute.existence.lower > 0:
            errors.append(f"{path}: required by the template")
        return
    if not attribute.multiple:
        matching = [c for c in attribute.children
                    if not isinstance(value, dict) or c.identifies(value)]
        if attribute.children and not matching:
            errors.append(f"{path}: not a node this template defines here")
        elif matching:
            _check_object(matching[0], value, path, errors)
        return
    if not isinstance(value, list):
        errors.append(f"{path}: expected a list")
        return
    _check_items(attribute, value, path, errors)


def _check_items(attribute: CAttribute, items: list[Any], path: str,
                 errors: list[str]) -> None:
    counts = dict.fromkeys(range(len(attribute.children)), 0)
    for index, item in enumerate(items):
        where = f"{path}[{index}]"
        found = next((n for n, c in enumerate(attribute.children)
                      if isinstance(item, dict) and c.identifies(item)), None)
        if found is None:
            node = item.get("archetype_node_id") if isinstance(item, dict) else None
            errors.append(f"{where}: {node or 'this item'} is not in the template")
            continue
        counts[found] += 1
        _check_object(attribute.children[found], item, where, errors)
    for number, child in enumerate(attribute.children):
        if not child.occurrences.holds(counts[number]):
            name = child.archetype_id or child.node_id or child.rm_type
            errors.append(f"{path}: {name} occurs {counts[number]} time(s), "
                          f"the template allows {_bounds(child.occurrences)}")
    if attribute.cardinality is not None and not attribute.cardinality.holds(len(items)):
        errors.append(f"{path}: holds {len(items)} item(s), "
                      f"the template allows {_bounds(attribute.cardinality)}")


def _bounds(interval: Interval) -> str:
    upper = "*" if interval.upper is None else str(interval.upper)
    return f"{interval.lower}..{upper}"
