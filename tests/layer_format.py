"""ATT&CK Navigator layer format 4.5, as a test helper: the JSON schema of the fields a layer
may hold (from Navigator's ``layerformatv4_5.md``) plus the rules the schema cannot say.

mitreattack-python's layer classes would load layers too, but pull in pandas, numpy and ~45
other packages (two minutes to install here); this helper was checked against them: every layer
the export tests write loads with ``mitreattack.navlayers.Layer().from_dict`` and passes here.
"""

from __future__ import annotations

import re
from typing import Any

import fastjsonschema

_COLOUR = {"type": "string", "pattern": r"^#[0-9a-fA-F]{6}$"}
_VERSION = {"type": "string", "pattern": r"^\d+(\.\d+){0,2}$"}
_METADATA = {
    "type": "array",
    "items": {
        "type": "object",
        "oneOf": [
            {
                "required": ["name", "value"],
                "properties": {"name": {"type": "string"}, "value": {"type": "string"}},
            },
            {"required": ["divider"], "properties": {"divider": {"type": "boolean"}}},
        ],
    },
}
_LINKS = {
    "type": "array",
    "items": {
        "type": "object",
        "properties": {
            "label": {"type": "string"},
            "url": {"type": "string"},
            "divider": {"type": "boolean"},
        },
    },
}
SCHEMA: dict[str, Any] = {
    "type": "object",
    "additionalProperties": False,
    "required": ["name", "versions", "domain"],
    "properties": {
        "name": {"type": "string", "minLength": 1},
        "versions": {
            "type": "object",
            "additionalProperties": False,
            "required": ["layer"],
            "properties": {"attack": _VERSION, "navigator": _VERSION, "layer": {"const": "4.5"}},
        },
        "domain": {"enum": ["enterprise-attack", "mobile-attack", "ics-attack"]},
        "description": {"type": "string"},
        "filters": {
            "type": "object",
            "additionalProperties": False,
            "properties": {"platforms": {"type": "array", "items": {"type": "string"}}},
        },
        "sorting": {"enum": [0, 1, 2, 3]},
        "layout": {
            "type": "object",
            "additionalProperties": False,
            "properties": {
                "layout": {"enum": ["side", "flat", "mini"]},
                "aggregateFunction": {"enum": ["average", "min", "max", "sum"]},
                "showAggregateScores": {"type": "boolean"},
                "countUnscored": {"type": "boolean"},
                "showID": {"type": "boolean"},
                "showName": {"type": "boolean"},
                "expandedSubtechniques": {"enum": ["none", "annotated", "all"]},
            },
        },
        "hideDisabled": {"type": "boolean"},
        "techniques": {
            "type": "array",
            "items": {
                "type": "object",
                "additionalProperties": False,
                "required": ["techniqueID"],
                "properties": {
                    "techniqueID": {"type": "string", "pattern": r"^T\d{4}(\.\d{3})?$"},
                    "tactic": {"type": "string"},
                    "comment": {"type": "string"},
                    "enabled": {"type": "boolean"},
                    "score": {"type": "number"},
                    "color": {"anyOf": [_COLOUR, {"const": ""}]},
                    "metadata": _METADATA,
                    "links": _LINKS,
                    "showSubtechniques": {"type": "boolean"},
                },
            },
        },
        "gradient": {
            "type": "object",
            "additionalProperties": False,
            "required": ["colors", "minValue", "maxValue"],
            "properties": {
                "colors": {"type": "array", "minItems": 2, "items": _COLOUR},
                "minValue": {"type": "number"},
                "maxValue": {"type": "number"},
            },
        },
        "legendItems": {
            "type": "array",
            "items": {
                "type": "object",
                "additionalProperties": False,
                "required": ["label", "color"],
                "properties": {"label": {"type": "string", "minLength": 1}, "color": _COLOUR},
            },
        },
        "showTacticRowBackground": {"type": "boolean"},
        "tacticRowBackground": _COLOUR,
        "selectTechniquesAcrossTactics": {"type": "boolean"},
        "selectSubtechniquesWithParent": {"type": "boolean"},
        "selectVisibleTechniques": {"type": "boolean"},
        "metadata": _METADATA,
        "links": _LINKS,
    },
}
_check = fastjsonschema.compile(SCHEMA)


def layer_problems(layer: Any) -> list[str]:
    """Why ``layer`` is not a sane 4.5 layer ([] when it is)."""
    try:
        _check(layer)
    except fastjsonschema.JsonSchemaException as exc:
        return [f"schema: {exc.message}"]
    problems = []
    techniques = layer.get("techniques", [])
    if not techniques:
        problems.append("no techniques")
    ids = [t["techniqueID"] for t in techniques]
    if len(ids) != len(set(ids)):
        problems.append("a technique is listed twice")
    g = layer.get("gradient")
    if g and g["minValue"] >= g["maxValue"]:
        problems.append(f"gradient {g['minValue']}..{g['maxValue']} is empty")
    scores = [t["score"] for t in techniques if "score" in t]
    if g and scores and (min(scores) < g["minValue"] or max(scores) > g["maxValue"]):
        problems.append("a score lies outside the gradient")
    labels = [item["label"] for item in layer.get("legendItems", [])]
    if len(labels) != len(set(labels)):
        problems.append(f"legend repeats a label: {labels}")
    if any(re.fullmatch(r"1 mappings|0 mappings", label) for label in labels):
        problems.append(f"legend label that says nothing: {labels}")
    return problems
