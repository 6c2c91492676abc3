"""Button state: what a click needs to rebuild an answer on any instance, in a ``value`` string.

The value is public (anyone can craft a click), so decoding is strict: a version prefix, a size
cap, a JSON Schema with bounded strings, lists and pages.  A forged or stale value raises
``StateError`` with a message fit to show the user; it never reaches the database unchecked.
"""

from __future__ import annotations

from dataclasses import dataclass, replace
from typing import Any

import fastjsonschema
import orjson

from store.views import SCORE_CATEGORIES, SCORE_VALUES, Filters, ViewRequest

PREFIX = "cm1:"
MAX_VALUE = 2000  # Slack's button value limit
MAX_OPTION_VALUE = 150  # Slack's select option value limit
MAX_PAGE = 200
KINDS = (
    "technique",
    "capability",
    "pair",
    "group",
    "framework",
    "cve",
    "compare",
    "multi",
    "threat",
    "detection",
    "tactic",
    "mitigation",
    "users",
)

_ID = {"type": "string", "minLength": 1, "maxLength": 200, "pattern": r"^[^\x00-\x1f<>]+$"}
_FRAMEWORK = {"type": "string", "pattern": r"^[a-z0-9_-]{1,32}$"}
_TECHNIQUE = {"type": "string", "pattern": r"^T[0-9]{4}(\.[0-9]{3})?$"}
_SCHEMA = {
    "type": "object",
    "additionalProperties": False,
    "required": ["k"],
    "properties": {
        "k": {"enum": list(KINDS)},
        "t": {"type": "array", "items": _TECHNIQUE, "maxItems": 5},
        "c": {
            "type": "array",
            "maxItems": 5,
            "items": {"type": "array", "minItems": 2, "maxItems": 2, "items": [_FRAMEWORK, _ID]},
        },
        "g": {"type": "array", "minItems": 2, "maxItems": 2, "items": [_FRAMEWORK, _ID]},
        "o": {"type": "string", "pattern": r"^(TA|M)[0-9]{4}$"},
        "f": {"type": "array", "items": _FRAMEWORK, "maxItems": 12},
        "th": {"type": "string", "pattern": r"^[GSC][0-9]{4}$"},
        "fv": {"type": "string", "minLength": 1, "maxLength": 32, "pattern": r"^[A-Za-z0-9./_-]+$"},
        "av": {"type": "string", "pattern": r"^[0-9]{1,2}\.[0-9]{1,2}$"},
        "d": {"enum": ["enterprise", "mobile", "ics"]},
        "cat": {
            "type": "array",
            "items": {"enum": list(SCORE_CATEGORIES)},
            "maxItems": 3,
            "uniqueItems": True,
        },
        "ms": {"enum": list(SCORE_VALUES)},
        "p": {"type": "integer", "minimum": 1, "maximum": MAX_PAGE},
        "x": {"type": "string", "minLength": 1, "maxLength": 450, "pattern": r"^[^\x00-\x1f<>]+$"},
        "cp": {"const": 1},
    },
}
# Encoding checks a state's parts one by one against the same property schemas: a message's
# dozens of buttons and options share most parts (the technique, the frameworks, a filter),
# and each distinct part is checked once per message.  The parts' checks together are the
# full schema's (its only other rule, "k" required, every encoded state meets).
_PROPERTIES: dict[str, Any] = _SCHEMA["properties"]  # type: ignore[assignment]
_PART_SCHEMA = {"type": "object", "additionalProperties": False, "properties": _PROPERTIES}
_compiled: dict[str, Any] = {}


def _validate(data: Any, schema: str = "full") -> None:
    """A schema check, compiled on first use (a CLI answer for the terminal never needs it)."""
    check = _compiled.get(schema)
    if check is None:
        check = _compiled[schema] = fastjsonschema.compile(_SCHEMA if schema == "full" else _PART_SCHEMA)
    check(data)


class StateError(ValueError):
    """The value is not one this bot wrote (or it is from an incompatible version)."""


@dataclass(frozen=True, slots=True)
class State:
    request: ViewRequest
    page: int = 1
    expanded: str | None = None  # MappingLine.key shown in full
    compact: bool = False

    def with_(self, **changes: Any) -> State:
        if not changes.keys() <= _FIELDS:
            return replace(self, **changes)  # raises the usual TypeError
        # The constructor, not dataclasses.replace (a message makes dozens of these).
        return State(
            changes.get("request", self.request),
            changes.get("page", self.page),
            changes.get("expanded", self.expanded),
            changes.get("compact", self.compact),
        )


_FIELDS = frozenset(("request", "page", "expanded", "compact"))


def _parts(state: State) -> list[tuple[str, Any, Any]]:
    """(key, hashable form, JSON value) of each part a state's value holds."""
    r = state.request
    f = r.filters
    parts: list[tuple[str, Any, Any]] = [("k", r.kind, r.kind)]
    if r.techniques:
        parts.append(("t", r.techniques, list(r.techniques)))
    if r.capabilities:
        parts.append(("c", r.capabilities, [list(c) for c in r.capabilities]))
    if r.group:
        parts.append(("g", r.group, list(r.group)))
    if r.attack_object:
        parts.append(("o", r.attack_object, r.attack_object))
    if r.frameworks:
        parts.append(("f", r.frameworks, list(r.frameworks)))
    if r.threat:
        parts.append(("th", r.threat, r.threat))
    if f.framework_version:
        parts.append(("fv", f.framework_version, f.framework_version))
    if f.attack_version:
        parts.append(("av", f.attack_version, f.attack_version))
    if f.domain or r.domain:
        parts.append(("d", f.domain or r.domain, f.domain or r.domain))
    if f.categories:
        parts.append(("cat", f.categories, list(f.categories)))
    if f.min_score:
        parts.append(("ms", f.min_score, f.min_score))
    if state.page != 1:
        parts.append(("p", state.page, state.page))
    if state.expanded:
        parts.append(("x", state.expanded, state.expanded))
    if state.compact:
        parts.append(("cp", 1, 1))
    return parts


class StateEncoder:
    """Button and option values for one message, each distinct part of a state checked once
    (the memo grows with the parts seen: make one per message)."""

    def __init__(self) -> None:
        self._checked: dict[tuple[str, Any], str] = {}  # part -> "" if valid, else the problem

    def __call__(self, state: State, *, limit: int = MAX_VALUE) -> str:
        """The value for a button (or, with ``limit=150``, a select option).  Raises StateError
        if it would not fit, so the caller leaves the element out rather than send a broken
        one."""
        data: dict[str, Any] = {}
        checked = self._checked
        for key, memo, part in _parts(state):
            data[key] = part
            problem = checked.get((key, memo))
            if problem is None:
                try:
                    _validate({key: part}, "part")
                    problem = ""
                except fastjsonschema.JsonSchemaException as exc:
                    problem = str(exc)
                checked[(key, memo)] = problem
            if problem:
                raise StateError(f"cannot encode this answer's state: {problem}")
        value = PREFIX + orjson.dumps(data).decode()
        if len(value) > limit:
            raise StateError(f"state is {len(value)} characters, over {limit}")
        return value


def encode_state(state: State, *, limit: int = MAX_VALUE) -> str:
    """One value (see ``StateEncoder``)."""
    return StateEncoder()(state, limit=limit)


def decode_state(value: object) -> State:
    if not isinstance(value, str) or not value.startswith(PREFIX):
        raise StateError("This button is from an older or unknown version of the bot; ask again.")
    if len(value) > MAX_VALUE:
        raise StateError("This button's state is too long to be ours.")
    try:
        data = orjson.loads(value[len(PREFIX) :])
        _validate(data, "full")
    except (orjson.JSONDecodeError, fastjsonschema.JsonSchemaException) as exc:
        raise StateError("This button's state is not valid; ask again.") from exc
    kind = data["k"]
    need = {
        "technique": "t",
        "compare": "t",
        "pair": "t",
        "capability": "c",
        "cve": "c",
        "group": "g",
        "threat": "th",
        "detection": "t",
        "tactic": "o",
        "mitigation": "o",
        "users": "t",
    }
    if kind in need and not data.get(need[kind]):
        raise StateError("This button's state names nothing to show.")
    if kind == "pair" and not data.get("c"):
        raise StateError("This button's state names nothing to show.")
    if kind == "multi" and not (data.get("t") or data.get("c")):
        raise StateError("This button's state names nothing to show.")
    if kind == "framework" and not data.get("f"):
        raise StateError("This button's state names nothing to show.")
    filters = Filters(
        framework_version=data.get("fv"),
        attack_version=data.get("av"),
        domain=data.get("d"),
        categories=tuple(data.get("cat", ())),
        min_score=data.get("ms"),
    )
    request = ViewRequest(
        kind=kind,
        techniques=tuple(data.get("t", ())),
        capabilities=tuple((c[0], c[1]) for c in data.get("c", ())),
        group=(data["g"][0], data["g"][1]) if "g" in data else None,
        frameworks=tuple(dict.fromkeys(data.get("f", ()))),
        filters=filters,
        domain=data.get("d"),
        threat=data.get("th"),
        attack_object=data.get("o"),
    )
    return State(request, page=data.get("p", 1), expanded=data.get("x"), compact=bool(data.get("cp")))
