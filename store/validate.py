"""Validation of Mappings Explorer files against the unified schema, compiled once.

The schema is shipped with the package (``store/schema/``) so an installed countermap needs no
checkout of the data repository.  fastjsonschema turns it into Python code: about 30x faster
than the reference ``jsonschema`` walk on this corpus.
"""

from __future__ import annotations

import functools
import re
from collections.abc import Callable
from importlib import resources
from typing import Any

import fastjsonschema
import orjson

__all__ = ["SchemaViolation", "validate_mapping_document"]

SCHEMA_FILE = "mapex-unified-data-schema.json"
_INDEX = re.compile(r"\[(\d+)\]")


class SchemaViolation(ValueError):
    """A document breaks the unified schema; ``place`` is a JSON path such as
    ``mapping_objects[12].status``."""

    def __init__(self, place: str, reason: str) -> None:
        super().__init__(f"{place}: {reason}")
        self.place = place
        self.reason = reason


@functools.cache
def _validator() -> Callable[[Any], Any]:
    raw = resources.files("store.schema").joinpath(SCHEMA_FILE).read_bytes()
    schema = orjson.loads(raw)
    # The file declares draft 2020-12 but uses nothing beyond draft 7, which fastjsonschema
    # compiles; declaring draft 7 keeps the compiler on its supported path.
    schema["$schema"] = "http://json-schema.org/draft-07/schema#"
    return fastjsonschema.compile(schema)


def _place(path: str) -> str:
    """``data.mapping_objects[3].status`` → ``mapping_objects[3].status``."""
    place = path[len("data") :] if path.startswith("data") else path
    return place.lstrip(".") or "(top level)"


def validate_mapping_document(document: Any) -> None:
    """Raise ``SchemaViolation`` naming the first offending place, else return."""
    try:
        _validator()(document)
    except fastjsonschema.JsonSchemaValueException as exc:
        place = _place(exc.path) if isinstance(exc.path, str) else _place(str(exc.name))
        reason = exc.message
        if reason.startswith(str(exc.name)):
            reason = reason[len(str(exc.name)) :].strip()
        raise SchemaViolation(place, reason) from None
