"""ATT&CK STIX 2.x bundles → techniques, tactics, mitigations and their links, for one domain.

Only what the bot answers with is kept; the rest of the (33 MB) enterprise bundle is dropped
as soon as the bundle is walked.  Revoked and deprecated objects are kept and flagged, with the
replacement named, because older mapping files still use their IDs.
"""

from __future__ import annotations

import ast
import datetime as dt
import re
from collections import Counter
from dataclasses import dataclass, field
from typing import Any

from sqlalchemy import String

from store.ids import attack_id_or_none
from store.ingest.errors import FileProblem
from store.ingest.stix_threats import ThreatData, parse_detections, parse_threats
from store.models import Base

__all__ = ["AttackData", "parse_stix_bundle"]

_ATTACK_SOURCES = frozenset({"mitre-attack", "mitre-mobile-attack", "mitre-ics-attack"})
_DOMAINS = {"enterprise-attack": "enterprise", "mobile-attack": "mobile", "ics-attack": "ics"}
_VERSION_IN_NAME = re.compile(r"(?:attack|ATT&CK)[-_ v]*(\d+(?:\.\d+)?)", re.IGNORECASE)


@dataclass
class AttackData:
    domain: str
    attack_version: str | None
    tactics: list[dict[str, Any]] = field(default_factory=list)
    techniques: list[dict[str, Any]] = field(default_factory=list)
    mitigations: list[dict[str, Any]] = field(default_factory=list)
    # mitigates links keyed by STIX ids; resolved to primary keys when written
    links: list[dict[str, Any]] = field(default_factory=list)
    threats: ThreatData = field(default_factory=ThreatData)
    # Objects of types the bot does not load, by type ("relationship:targets" for links).
    skipped: dict[str, int] = field(default_factory=dict)

    @property
    def warnings(self) -> list[str]:
        return self.threats.warnings


def _external(obj: dict[str, Any]) -> tuple[str | None, str | None]:
    for ref in obj.get("external_references") or ():
        if isinstance(ref, dict) and ref.get("source_name") in _ATTACK_SOURCES and ref.get("external_id"):
            return str(ref["external_id"]), ref.get("url")
    return None, None


def _timestamp(value: Any) -> dt.datetime | None:
    if not isinstance(value, str):
        return None
    try:
        return dt.datetime.fromisoformat(value.replace("Z", "+00:00"))
    except ValueError:
        return None


def _tactic_refs(matrix: dict[str, Any]) -> list[str]:
    refs = matrix.get("tactic_refs") or []
    if isinstance(refs, str):  # some 18.x bundles write the list as its Python repr
        try:
            refs = ast.literal_eval(refs)
        except (ValueError, SyntaxError):
            return []
    return [r for r in refs if isinstance(r, str)] if isinstance(refs, list) else []


def _domain(objects: list[dict[str, Any]], matrices: list[dict[str, Any]]) -> str | None:
    live = [m for m in matrices if not m.get("revoked") and not m.get("x_mitre_deprecated")]
    for matrix in live or matrices:
        ext, _ = _external(matrix)
        if ext in _DOMAINS:
            return _DOMAINS[ext]
    votes: Counter[str] = Counter()
    for obj in objects:
        if obj.get("type") == "attack-pattern":
            for d in obj.get("x_mitre_domains") or ():
                if d in _DOMAINS:
                    votes[_DOMAINS[d]] += 1
    return votes.most_common(1)[0][0] if votes else None


def parse_stix_bundle(document: dict[str, Any], name_hint: str = "") -> AttackData:
    """The domain's objects; a malformed bundle raises ``FileProblem`` rather than anything
    that would surface later as a database error."""
    try:
        data = _parse(document, name_hint)
    except (TypeError, AttributeError, ValueError, KeyError) as exc:
        raise FileProblem("objects", f"malformed ATT&CK object: {type(exc).__name__}: {exc}") from None
    th = data.threats
    for kind, rows, limits in (
        ("tactic", data.tactics, _TACTIC_LIMITS),
        ("technique", data.techniques, _TECHNIQUE_LIMITS),
        ("mitigation", data.mitigations, _MITIGATION_LIMITS),
        ("mitigates relationship", data.links, _LINK_LIMITS),
        ("group, software or campaign", th.threats, _limits(Base.metadata.tables["threats"])),
        ("uses relationship", th.links, _limits(Base.metadata.tables["threat_links"])),
        ("data component", th.data_components, _limits(Base.metadata.tables["data_components"])),
        ("analytic", th.analytics, _limits(Base.metadata.tables["analytics"])),
        ("detection strategy", th.strategies, _limits(Base.metadata.tables["detection_strategies"])),
    ):
        for row in rows:
            for name, limit in limits.items():
                value = row.get(name)
                if value is not None and (not isinstance(value, str) or len(value) > limit):
                    raise FileProblem(
                        f"{kind} {row.get('stix_id') or row.get('attack_id')}",
                        f"{name} must be text of at most {limit} characters",
                    )
            for name in ("name", "description"):
                if row.get(name) is not None and not isinstance(row[name], str):
                    raise FileProblem(f"{kind} {row.get('stix_id')}", f"{name} must be text")
    return data


def _limits(table: Any) -> dict[str, int]:
    return {c.name: c.type.length for c in table.columns if isinstance(c.type, String) and c.type.length}


_TACTIC_LIMITS = _limits(Base.metadata.tables["tactics"])
_TECHNIQUE_LIMITS = _limits(Base.metadata.tables["techniques"])
_MITIGATION_LIMITS = _limits(Base.metadata.tables["mitigations"])
_LINK_LIMITS = _limits(Base.metadata.tables["mitigation_links"])


def _parse(document: dict[str, Any], name_hint: str) -> AttackData:
    objects = document["objects"]
    for i, obj in enumerate(objects):
        if (
            not isinstance(obj, dict)
            or not isinstance(obj.get("id"), str)
            or not isinstance(obj.get("type"), str)
        ):
            raise FileProblem(f"objects[{i}]", "not a STIX object (an object with string type and id)")

    by_type: dict[str, list[dict[str, Any]]] = {}
    for obj in objects:
        by_type.setdefault(str(obj.get("type")), []).append(obj)
    matrices = by_type.get("x-mitre-matrix", [])
    domain = _domain(objects, matrices)
    if domain is None:
        raise FileProblem("objects", "no ATT&CK matrix or techniques: cannot tell the domain")

    version = None
    for coll in by_type.get("x-mitre-collection", []):
        version = coll.get("x_mitre_version") or version
    if version is None:
        m = _VERSION_IN_NAME.search(name_hint)
        version = m.group(1) if m else None
    data = AttackData(domain=domain, attack_version=str(version) if version else None)

    # Tactics in kill-chain order (the live matrix's tactic_refs).
    order: dict[str, int] = {}
    for matrix in sorted(matrices, key=lambda m: bool(m.get("x_mitre_deprecated") or m.get("revoked"))):
        for ref in _tactic_refs(matrix):
            order.setdefault(ref, len(order))
    tactic_names: dict[str, str] = {}
    for i, tac in enumerate(by_type.get("x-mitre-tactic", [])):
        ext, _ = _external(tac)
        short = tac.get("x_mitre_shortname")
        if not ext or not short:
            continue
        tactic_names[short] = tac.get("name") or short
        data.tactics.append(
            {
                "domain": domain,
                "attack_id": ext,
                "shortname": short,
                "name": tac.get("name") or short,
                "position": order.get(tac["id"], len(order) + i),
            }
        )
    # A shortname appears once per domain; keep the live object when a revoked twin exists.
    data.tactics = list(
        {t["shortname"]: t for t in sorted(data.tactics, key=lambda t: -t["position"])}.values()
    )

    relationships = by_type.get("relationship", [])
    revoked_by: dict[str, str] = {}
    parent_of: dict[str, str] = {}
    for rel in relationships:
        if rel.get("revoked") or rel.get("x_mitre_deprecated"):
            continue
        kind = rel.get("relationship_type")
        if kind == "revoked-by":
            revoked_by[str(rel.get("source_ref"))] = str(rel.get("target_ref"))
        elif kind == "subtechnique-of":
            parent_of[str(rel.get("source_ref"))] = str(rel.get("target_ref"))

    attack_ids: dict[str, str] = {}
    for obj in by_type.get("attack-pattern", []) + by_type.get("course-of-action", []):
        ext, _ = _external(obj)
        if ext:
            attack_ids[obj["id"]] = attack_id_or_none(ext) or ext

    for obj in by_type.get("attack-pattern", []):
        stix_id = obj["id"]
        attack_id = attack_ids.get(stix_id)
        if not attack_id:
            continue
        _, url = _external(obj)
        is_sub = bool(obj.get("x_mitre_is_subtechnique")) or "." in attack_id
        parent = attack_ids.get(parent_of.get(stix_id, "")) or (attack_id.split(".")[0] if is_sub else None)
        data.techniques.append(
            {
                "stix_id": stix_id,
                "domain": domain,
                "attack_id": attack_id,
                "name": obj.get("name") or attack_id,
                "description": obj.get("description"),
                "url": url,
                "tactics": [
                    p.get("phase_name")
                    for p in obj.get("kill_chain_phases") or ()
                    if isinstance(p, dict)
                    and p.get("kill_chain_name") in _ATTACK_SOURCES
                    and p.get("phase_name")
                ],
                "platforms": list(obj.get("x_mitre_platforms") or []),
                "is_subtechnique": is_sub,
                "parent_attack_id": parent,
                "revoked": bool(obj.get("revoked")),
                "deprecated": bool(obj.get("x_mitre_deprecated")),
                "revoked_by": attack_ids.get(revoked_by.get(stix_id, "")),
                "attack_version": data.attack_version,
                "modified": _timestamp(obj.get("modified")),
            }
        )

    for obj in by_type.get("course-of-action", []):
        attack_id = attack_ids.get(obj["id"])
        if not attack_id:
            continue
        _, url = _external(obj)
        data.mitigations.append(
            {
                "stix_id": obj["id"],
                "domain": domain,
                "attack_id": attack_id,
                "name": obj.get("name") or attack_id,
                "description": obj.get("description"),
                "url": url,
                "revoked": bool(obj.get("revoked")),
                "deprecated": bool(obj.get("x_mitre_deprecated")),
            }
        )

    technique_ids = {t["stix_id"]: t["attack_id"] for t in data.techniques}
    mitigation_ids = {m["stix_id"] for m in data.mitigations}
    for rel in relationships:
        if rel.get("relationship_type") != "mitigates" or rel.get("revoked") or rel.get("x_mitre_deprecated"):
            continue
        src, dst = str(rel.get("source_ref")), str(rel.get("target_ref"))
        if src not in mitigation_ids or dst not in technique_ids:
            missing = dst if src in mitigation_ids else src
            data.threats.warnings.append(f"{rel['id']} (mitigates): {missing} is not in the bundle")
        else:
            data.links.append(
                {
                    "stix_id": rel["id"],
                    "domain": domain,
                    "mitigation_stix_id": src,
                    "technique_stix_id": dst,
                    "mitigation_attack_id": attack_ids[src],
                    "technique_attack_id": attack_ids[dst],
                    "description": rel.get("description"),
                }
            )
    parse_threats(domain, by_type, relationships, technique_ids, revoked_by, data.threats)
    parse_detections(domain, by_type, relationships, technique_ids, data.threats)
    data.skipped = _skipped(by_type, relationships)
    return data


# Bundle scaffolding and the types loaded above are not "skipped".
_READ_TYPES = frozenset(
    {
        "attack-pattern",
        "course-of-action",
        "x-mitre-tactic",
        "x-mitre-matrix",
        "x-mitre-collection",
        "identity",
        "marking-definition",
        "relationship",
        "intrusion-set",
        "malware",
        "tool",
        "campaign",
        "x-mitre-detection-strategy",
        "x-mitre-analytic",
        "x-mitre-data-component",
        "x-mitre-data-source",
    }
)
_READ_RELATIONSHIPS = frozenset(
    {"uses", "mitigates", "detects", "subtechnique-of", "revoked-by", "attributed-to"}
)


def _skipped(by_type: dict[str, list[dict[str, Any]]], relationships: list[dict[str, Any]]) -> dict[str, int]:
    out = {t: len(objs) for t, objs in sorted(by_type.items()) if t not in _READ_TYPES}
    kinds = Counter(str(r.get("relationship_type")) for r in relationships)
    out.update({f"relationship:{k}": n for k, n in sorted(kinds.items()) if k not in _READ_RELATIONSHIPS})
    return out
