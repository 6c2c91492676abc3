"""slack_sdk block objects → the dicts their ``to_dict()`` gives, without re-running validators.

``JsonObject.to_dict()`` runs every validator of the object and of each nested object on every
call, then walks the attributes through several layers of helpers: about 80 µs for a section
with a button, most of an answer's cost when a page holds 40 of them.  Messages are still
built from ``slack_sdk.models.blocks`` objects; this module only writes them out, key for key
as ``get_non_null_attributes`` does (sorted attributes, ``None`` and empty values left out,
options in their Block Kit form).  What the validators would refuse, ``bot.render.limits``
refuses on the whole message before it is sent, and the full-corpus tests check every block of
every answer against ``Block.parse(block).to_dict()``.
"""

from __future__ import annotations

from typing import Any

from slack_sdk.models.basic_objects import EMPTY_ALLOWED_TYPE_AND_PROPERTY_LIST, JsonObject
from slack_sdk.models.blocks import MarkdownTextObject, Option, PlainTextObject

# Per class: its attributes in the order to_dict() writes them, or None when the class has a
# to_dict of its own (written out by that, or by ``_option``).
_KEYS: dict[type, tuple[str, ...] | None] = {}
_EMPTY_ALLOWED = {(e["type"], e["property"]) for e in EMPTY_ALLOWED_TYPE_AND_PROPERTY_LIST}


def _keys(obj: JsonObject) -> tuple[str, ...] | None:
    cls = type(obj)
    try:
        return _KEYS[cls]
    except KeyError:
        keys = tuple(sorted(obj.attributes)) if cls.to_dict is JsonObject.to_dict else None
        _KEYS[cls] = keys
        return keys


def _value(value: Any) -> Any:
    t = type(value)
    if t is str or t is bool or t is int or t is float:
        return value
    if t is list or t is tuple:
        return [_value(v) for v in value]
    if t in _KEYS or isinstance(value, JsonObject):
        return as_dict(value)
    return value


def _option(opt: Option) -> dict[str, Any]:
    """``Option.to_dict("block")``."""
    text = opt._text or PlainTextObject.from_str(opt.label or "")
    out: dict[str, Any] = {"text": as_dict(text), "value": opt.value}
    if opt._block_description:
        out["description"] = as_dict(opt._block_description)
    if opt.url:
        out["url"] = opt.url
    return out


def _text(obj: MarkdownTextObject | PlainTextObject) -> dict[str, Any]:
    out: dict[str, Any] = {"type": obj.type}
    if obj.text:  # None or "" is left out, as to_dict() leaves out empty values
        out["text"] = obj.text
    key = "verbatim" if type(obj) is MarkdownTextObject else "emoji"
    flag = getattr(obj, key, None)
    if flag is not None:
        out[key] = flag
    return out


def as_dict(obj: JsonObject) -> dict[str, Any]:
    """What ``obj.to_dict()`` returns, for the block, element and composition objects whose
    ``to_dict`` is ``JsonObject``'s own, and options; any other class is handed to its own
    ``to_dict``."""
    cls = type(obj)
    if cls is MarkdownTextObject or cls is PlainTextObject:  # half of all objects: the short way
        return _text(obj)  # type: ignore[arg-type]
    keys = _keys(obj)
    if keys is None:
        return _option(obj) if isinstance(obj, Option) else obj.to_dict()
    out: dict[str, Any] = {}
    kind = getattr(obj, "type", None)
    for key in keys:
        value = getattr(obj, key, None)
        if value is None:
            continue
        t = type(value)
        if t is bool or t is int or t is float:
            out[key] = value
        elif (t is str or t is list or t is tuple or hasattr(value, "__len__")) and not len(value):
            if (kind, key) in _EMPTY_ALLOWED:
                out[key] = _value(value)
        else:
            out[key] = _value(value)
    return out
