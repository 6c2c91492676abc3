"""Mappings Explorer unified-schema files → one release and its rows, ready to insert.

Every row of ``mapping_objects`` becomes one ``mappings`` row (duplicates and non-mappable rows
included) with the IDs and names as written next to their canonical forms.
"""

from __future__ import annotations

import datetime as dt
import functools
import hashlib
import operator
from dataclasses import dataclass
from typing import Any

import orjson
from sqlalchemy import String, Table

from store.ids import attack_id_or_none, canonical_capability_id
from store.ingest.errors import FileProblem
from store.licenses import extract_license_requirements
from store.models import Mapping, Release
from store.validate import SchemaViolation, validate_mapping_document

__all__ = ["ReleaseData", "ReleaseKey", "parse_mapping_document", "release_key_text"]

ReleaseKey = tuple[str, str, str, str]  # framework, framework version, ATT&CK version, domain

# The row keys read from each mapping object, in one C-level pick per row.
_FIELDS = (
    "capability_id",
    "capability_description",
    "capability_group",
    "attack_object_id",
    "attack_object_name",
    "mapping_type",
    "score_category",
    "score_value",
    "related_score",
    "comments",
    "references",
    "status",
)
_ROW_KEYS = frozenset(_FIELDS)


# Column order of ``ReleaseData.rows``; the writer puts release_id and capability_pk first.
ROW_COLUMNS = (
    "position",
    "framework",
    "capability_id",
    "capability_id_as_written",
    "capability_name",
    "capability_group",
    "attack_id",
    "attack_id_as_written",
    "attack_name",
    "mapping_type",
    "score_category",
    "score_value",
    "related_score",
    "comments",
    "references",  # JSON text
    "status",
    "license_requirements",
    "extra",  # JSON text: keys of the row beyond the usual ones
)
CAPABILITY_ID, CAPABILITY_WRITTEN, CAPABILITY_NAME, CAPABILITY_GROUP = 2, 3, 4, 5
# Where each stored column came from in the file, for error messages.
_SOURCE_KEY = {
    "capability_id": "capability_id",
    "capability_id_as_written": "capability_id",
    "capability_group": "capability_group",
    "attack_id": "attack_object_id",
    "attack_id_as_written": "attack_object_id",
    "mapping_type": "mapping_type",
    "score_category": "score_category",
    "score_value": "score_value",
    "related_score": "related_score",
    "status": "status",
    "framework": "mapping_framework",
    "capability_name": "capability_description",
    "attack_name": "attack_object_name",
}


_DEFAULTS: dict[str, Any] = dict.fromkeys(_FIELDS)
_pick = operator.itemgetter(*_FIELDS)
_STATUS = ROW_COLUMNS.index("status")


def _check_lengths(rows: list[tuple[Any, ...]]) -> None:
    """Values longer than their column (PostgreSQL would refuse them mid-load): checked per
    column at C speed, then the first offending row is found for the message."""
    if not rows:
        return
    columns = list(zip(*rows, strict=True))
    for index, limit in _ROW_LIMITS:
        if max(map(len, filter(None, columns[index])), default=0) > limit:
            position = next(i for i, v in enumerate(columns[index]) if v and len(v) > limit)
            raise FileProblem(
                f"mapping_objects[{position}].{_SOURCE_KEY[ROW_COLUMNS[index]]}",
                f"longer than {limit} characters",
            )


@functools.lru_cache(maxsize=65536)
def _canonical_capability(framework: str, raw: str) -> str:
    return canonical_capability_id(framework, raw)


@functools.lru_cache(maxsize=65536)
def _canonical_attack(raw: str) -> str:
    return attack_id_or_none(raw) or raw.strip().upper()


def _limits(table: Table) -> dict[str, int]:
    return {
        c.name: c.type.length
        for c in table.columns
        if isinstance(c.type, String) and c.type.length  # Text has no length
    }


_ROW_LIMITS = tuple(
    (ROW_COLUMNS.index(name), limit)
    for name, limit in _limits(Mapping.__table__).items()  # type: ignore[arg-type]
    if name in ROW_COLUMNS
)
# Names are index columns (ix_mappings_capability, ix_mappings_attack): PostgreSQL refuses an
# index row over 2,704 bytes, so a name past this many characters (4 bytes each at worst) is
# refused here, naming the row, rather than by the database mid-load.  Real names: under 250.
NAME_LIMIT = 600
_ROW_LIMITS += (
    (ROW_COLUMNS.index("capability_name"), NAME_LIMIT),
    (ROW_COLUMNS.index("attack_name"), NAME_LIMIT),
)
_RELEASE_LIMITS = _limits(Release.__table__)  # type: ignore[arg-type]


@dataclass
class ReleaseData:
    key: ReleaseKey
    columns: dict[str, Any]  # releases columns except id / counts / loaded_at
    rows: list[tuple[Any, ...]]  # mappings rows in ROW_COLUMNS order
    content_sha256: str  # digest of the parsed content: a YAML and a JSON copy agree
    non_mappable: int


def release_key_text(key: ReleaseKey) -> str:
    """``nist_800_53 rev5 / ATT&CK 14.1 enterprise``: how people name a release."""
    framework, version, attack_version, domain = key
    return f"{framework} {version} / ATT&CK {attack_version} {domain}"


def _date(value: Any, place: str) -> dt.date | None:
    if value in (None, ""):
        return None
    try:
        return dt.datetime.strptime(str(value), "%m/%d/%Y").date()
    except ValueError:
        raise FileProblem(place, f"not a real date (MM/DD/YYYY): {value!r}") from None


def _check(columns: dict[str, Any], limits: dict[str, int], place: str) -> None:
    for name, limit in limits.items():
        value = columns.get(name)
        if isinstance(value, str) and len(value) > limit:
            raise FileProblem(f"{place}.{name}" if place else name, f"longer than {limit} characters")


def parse_mapping_document(document: Any) -> ReleaseData:
    """Validate and convert; raises ``FileProblem`` naming the place of the first fault."""
    try:
        validate_mapping_document(document)
    except SchemaViolation as exc:
        raise FileProblem(exc.place, f"schema violation: {exc.reason}") from None
    if "metadata" not in document or "mapping_objects" not in document:
        missing = "metadata" if "metadata" not in document else "mapping_objects"
        raise FileProblem("(top level)", f"schema violation: {missing} is missing")

    meta = document["metadata"]
    framework = meta["mapping_framework"].strip()
    if not framework:
        raise FileProblem("metadata.mapping_framework", "empty")
    key: ReleaseKey = (
        framework,
        meta["mapping_framework_version"].strip(),
        meta["attack_version"].strip(),
        meta["technology_domain"],
    )
    columns: dict[str, Any] = {
        "framework": key[0],
        "framework_version": key[1],
        "attack_version": key[2],
        "domain": key[3],
        "mapping_version": meta.get("mapping_version"),
        "author": meta.get("author"),
        "contact": meta.get("contact"),
        "organization": meta.get("organization"),
        "creation_date": _date(meta.get("creation_date"), "metadata.creation_date"),
        "last_update": _date(meta.get("last_update"), "metadata.last_update"),
        "mapping_types": meta["mapping_types"],
        "capability_groups": meta["capability_groups"],
    }
    _check(columns, _RELEASE_LIMITS, "metadata")

    rows: list[tuple[Any, ...]] = []
    canonical_cap = functools.partial(_canonical_capability, framework)
    dumps = orjson.dumps
    for position, obj in enumerate(document["mapping_objects"]):
        (
            cap_raw,
            cap_name,
            cap_group,
            attack_raw,
            attack_name,
            mapping_type,
            score_category,
            score_value,
            related_score,
            comments,
            references,
            status,
        ) = _pick(_DEFAULTS | obj)
        extra = None if _ROW_KEYS.issuperset(obj) else {k: v for k, v in obj.items() if k not in _ROW_KEYS}
        rows.append(
            (
                position,
                framework,
                canonical_cap(cap_raw) if cap_raw else None,
                cap_raw,
                cap_name,
                cap_group,
                _canonical_attack(attack_raw) if attack_raw else None,
                attack_raw,
                attack_name,
                mapping_type,
                score_category,
                score_value,
                related_score,
                comments,
                None if references is None else "[]" if not references else dumps(references).decode(),
                status,
                extract_license_requirements(comments) if comments else None,
                dumps(extra).decode() if extra else None,
            )
        )
    _check_lengths(rows)
    non_mappable = sum(1 for r in rows if r[_STATUS] == "non_mappable")

    digest = hashlib.sha256(
        orjson.dumps(document, option=orjson.OPT_SORT_KEYS | orjson.OPT_NON_STR_KEYS)
    ).hexdigest()
    return ReleaseData(key, columns, rows, digest, non_mappable)
