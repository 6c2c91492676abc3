"""Groups, software, campaigns and detections of one ATT&CK STIX bundle, as table rows.

Called by ``stix.parse_stix_bundle`` once the techniques are known.  A broken object (a name
that is not text, aliases that are not a list of text) raises ``FileProblem`` naming it; a
relationship or reference that points at an object the bundle does not hold is a counted
warning, and the link is left out.
"""

from __future__ import annotations

import datetime as dt
import re
from collections.abc import Callable
from dataclasses import dataclass, field
from typing import Any

from store.ingest.errors import FileProblem

__all__ = ["ThreatData", "parse_detections", "parse_threats"]

_ATTACK_SOURCES = frozenset({"mitre-attack", "mitre-mobile-attack", "mitre-ics-attack"})
THREAT_KINDS = {"intrusion-set": "group", "malware": "software", "tool": "software", "campaign": "campaign"}
_CITATION = re.compile(r"\(Citation: ([^)]+)\)")


@dataclass
class ThreatData:
    """Rows keyed by STIX IDs; the loader turns them into primary keys."""

    threats: list[dict[str, Any]] = field(default_factory=list)
    links: list[dict[str, Any]] = field(default_factory=list)  # uses and attributed-to
    data_components: list[dict[str, Any]] = field(default_factory=list)
    analytics: list[dict[str, Any]] = field(default_factory=list)
    strategies: list[dict[str, Any]] = field(default_factory=list)
    detects: list[dict[str, Any]] = field(default_factory=list)
    # ATT&CK before v18: a data component ``detects`` a technique, the link's text saying what
    # to look for (there are no detection strategies, and components have no ATT&CK ID).
    component_detects: list[dict[str, Any]] = field(default_factory=list)
    warnings: list[str] = field(default_factory=list)


def _where(obj: dict[str, Any]) -> str:
    return f"{obj.get('type')} {obj.get('id')}"


def _text(obj: dict[str, Any], key: str) -> str | None:
    value = obj.get(key)
    if value is None or isinstance(value, str):
        return value
    raise FileProblem(_where(obj), f"{key} must be text")


def _texts(obj: dict[str, Any], key: str) -> list[str]:
    value = obj.get(key)
    if value is None:
        return []
    if not isinstance(value, list) or not all(isinstance(v, str) for v in value):
        raise FileProblem(_where(obj), f"{key} must be a list of text")
    return list(value)


def _records(obj: dict[str, Any], key: str) -> list[dict[str, Any]]:
    value = obj.get(key)
    if value is None:
        return []
    if not isinstance(value, list) or not all(isinstance(v, dict) for v in value):
        raise FileProblem(_where(obj), f"{key} must be a list of objects")
    return value


def _external(obj: dict[str, Any]) -> tuple[str | None, str | None]:
    for ref in _records(obj, "external_references"):
        if ref.get("source_name") in _ATTACK_SOURCES and isinstance(ref.get("external_id"), str):
            url = ref.get("url")
            return ref["external_id"].strip().upper(), url if isinstance(url, str) else None
    return None, None


def _timestamp(value: Any) -> dt.datetime | None:
    if not isinstance(value, str):
        return None
    try:
        return dt.datetime.fromisoformat(value.replace("Z", "+00:00"))
    except ValueError:
        return None


def _flags(obj: dict[str, Any]) -> dict[str, bool]:
    return {"revoked": bool(obj.get("revoked")), "deprecated": bool(obj.get("x_mitre_deprecated"))}


def citations(rel: dict[str, Any], text: str | None) -> list[dict[str, str | None]]:
    """The relationship's references as name and URL: those the text cites first, in the
    order it cites them, then any others."""
    refs: dict[str, str | None] = {}
    for ref in _records(rel, "external_references"):
        name = ref.get("source_name")
        if isinstance(name, str) and name not in _ATTACK_SOURCES and name not in refs:
            url = ref.get("url")
            refs[name] = url if isinstance(url, str) else None
    order = list(dict.fromkeys(m.strip() for m in _CITATION.findall(text or "")))
    names = [n for n in order if n in refs] + [n for n in refs if n not in order]
    return [{"name": n, "url": refs[n]} for n in names]


def _live(rel: dict[str, Any]) -> bool:
    return not rel.get("revoked") and not rel.get("x_mitre_deprecated")


def parse_threats(
    domain: str,
    by_type: dict[str, list[dict[str, Any]]],
    relationships: list[dict[str, Any]],
    technique_ids: dict[str, str],
    revoked_by: dict[str, str],
    out: ThreatData,
) -> None:
    """Groups, software and campaigns, their ``uses`` and ``attributed-to`` links."""
    threat_ids: dict[str, tuple[str, str]] = {}  # stix id -> (ATT&CK id, kind)
    objects = [o for t in THREAT_KINDS for o in by_type.get(t, [])]
    for obj in objects:
        attack_id, _ = _external(obj)
        if attack_id:
            threat_ids[obj["id"]] = (attack_id, THREAT_KINDS[obj["type"]])
    for obj in objects:
        known = threat_ids.get(obj["id"])
        if known is None:
            out.warnings.append(f"{_where(obj)} has no ATT&CK ID: left out")
            continue
        attack_id, kind = known
        _, url = _external(obj)
        name = _text(obj, "name") or attack_id
        alias_key = "x_mitre_aliases" if kind == "software" else "aliases"
        aliases = [a for a in dict.fromkeys(a.strip() for a in _texts(obj, alias_key)) if a and a != name]
        out.threats.append(
            {
                "stix_id": obj["id"],
                "domain": domain,
                "kind": kind,
                "stix_type": obj["type"],
                "attack_id": attack_id,
                "name": name,
                "aliases": aliases,
                "description": _text(obj, "description"),
                "url": url,
                "platforms": _texts(obj, "x_mitre_platforms"),
                "first_seen": _timestamp(obj.get("first_seen")),
                "last_seen": _timestamp(obj.get("last_seen")),
                "revoked_by": threat_ids.get(revoked_by.get(obj["id"], ""), (None, ""))[0],
                "modified": _timestamp(obj.get("modified")),
                **_flags(obj),
            }
        )

    for rel in relationships:
        kind = str(rel.get("relationship_type"))
        if kind not in ("uses", "attributed-to") or not _live(rel):
            continue
        src, dst = str(rel.get("source_ref")), str(rel.get("target_ref"))
        source = threat_ids.get(src)
        if source is None:
            out.warnings.append(f"{rel['id']} ({kind}): source {src} is not in the bundle")
            continue
        if dst in technique_ids and kind == "uses":
            target_kind, target_id = "technique", technique_ids[dst]
        elif dst in threat_ids:
            target_id, target_kind = threat_ids[dst]
        else:
            out.warnings.append(f"{rel['id']} ({kind}): target {dst} is not in the bundle")
            continue
        raw = _text(rel, "description")
        text = raw.strip() if raw else None
        out.links.append(
            {
                "stix_id": rel["id"],
                "domain": domain,
                "relationship": kind,
                "source_stix_id": src,
                "source_attack_id": source[0],
                "target_kind": target_kind,
                "target_attack_id": target_id,
                "target_stix_id": dst,
                "description": text or None,
                "citations": citations(rel, text),
            }
        )


def parse_detections(
    domain: str,
    by_type: dict[str, list[dict[str, Any]]],
    relationships: list[dict[str, Any]],
    technique_ids: dict[str, str],
    out: ThreatData,
) -> None:
    """Data components, analytics, detection strategies and their ``detects`` links."""
    sources: dict[str, tuple[str | None, str | None]] = {}
    for obj in by_type.get("x-mitre-data-source", []):
        sources[obj["id"]] = (_external(obj)[0], _text(obj, "name"))
    components: dict[str, tuple[str, str]] = {}
    # Every live component, with or without an ATT&CK ID: (ID, name, data source ID, its name).
    detectors: dict[str, tuple[str | None, str, str | None, str | None]] = {}
    for obj in by_type.get("x-mitre-data-component", []):
        attack_id, url = _external(obj)
        ref = _text(obj, "x_mitre_data_source_ref") or ""
        if ref and ref not in sources:
            out.warnings.append(f"{_where(obj)}: data source {ref} is not in the bundle")
        ds_id, ds_name = sources.get(ref, (None, None))
        name = _text(obj, "name") or attack_id
        if name and _live(obj):
            detectors[obj["id"]] = (attack_id, name, ds_id, ds_name)
        if not attack_id:  # ATT&CK before v18 gave components no ID: they count by their links
            continue
        name = name or attack_id
        components[obj["id"]] = (attack_id, name)
        out.data_components.append(
            {
                "stix_id": obj["id"],
                "domain": domain,
                "attack_id": attack_id,
                "name": name,
                "description": _text(obj, "description"),
                "url": url,
                "data_source_id": ds_id,
                "data_source_name": ds_name,
                "log_sources": _log_sources(obj, "x_mitre_log_sources", None, out),
                **_flags(obj),
            }
        )

    analytic_ids: dict[str, str] = {}
    for obj in by_type.get("x-mitre-analytic", []):
        attack_id, url = _external(obj)
        if not attack_id:
            out.warnings.append(f"{_where(obj)} has no ATT&CK ID: left out")
            continue
        analytic_ids[obj["id"]] = attack_id
        elements = [
            {"field": _cell(obj, e, "field"), "description": _cell(obj, e, "description")}
            for e in _records(obj, "x_mitre_mutable_elements")
        ]
        out.analytics.append(
            {
                "stix_id": obj["id"],
                "domain": domain,
                "attack_id": attack_id,
                "name": _text(obj, "name") or attack_id,
                "description": _text(obj, "description"),
                "url": url,
                "platforms": _texts(obj, "x_mitre_platforms"),
                "log_sources": _log_sources(obj, "x_mitre_log_source_references", components.get, out),
                "mutable_elements": elements,
                **_flags(obj),
            }
        )

    strategies: dict[str, str] = {}
    for obj in by_type.get("x-mitre-detection-strategy", []):
        attack_id, url = _external(obj)
        if not attack_id:
            out.warnings.append(f"{_where(obj)} has no ATT&CK ID: left out")
            continue
        strategies[obj["id"]] = attack_id
        refs = _texts(obj, "x_mitre_analytic_refs")
        for ref in refs:
            if ref not in analytic_ids:
                out.warnings.append(f"{_where(obj)}: analytic {ref} is not in the bundle")
        out.strategies.append(
            {
                "stix_id": obj["id"],
                "domain": domain,
                "attack_id": attack_id,
                "name": _text(obj, "name") or attack_id,
                "url": url,
                "analytic_ids": [analytic_ids[r] for r in refs if r in analytic_ids],
                **_flags(obj),
            }
        )

    for rel in relationships:
        if rel.get("relationship_type") != "detects" or not _live(rel):
            continue
        src, dst = str(rel.get("source_ref")), str(rel.get("target_ref"))
        if src in detectors and dst in technique_ids:
            attack_id, name, ds_id, ds_name = detectors[src]
            out.component_detects.append(
                {
                    "stix_id": rel["id"],
                    "domain": domain,
                    "technique_stix_id": dst,
                    "technique_attack_id": technique_ids[dst],
                    "component_stix_id": src,
                    "component_attack_id": attack_id,
                    "component_name": name,
                    "data_source_id": ds_id,
                    "data_source_name": ds_name,
                    "description": _text(rel, "description"),
                }
            )
            continue
        if src not in strategies or dst not in technique_ids:
            missing = dst if src in strategies else src
            out.warnings.append(f"{rel['id']} (detects): {missing} is not in the bundle")
            continue
        out.detects.append(
            {
                "stix_id": rel["id"],
                "domain": domain,
                "strategy_stix_id": src,
                "technique_stix_id": dst,
                "strategy_attack_id": strategies[src],
                "technique_attack_id": technique_ids[dst],
            }
        )


def _cell(obj: dict[str, Any], record: dict[str, Any], key: str) -> str | None:
    value = record.get(key)
    if value is None or isinstance(value, str):
        return value
    raise FileProblem(_where(obj), f"{key} of an entry must be text")


def _log_sources(
    obj: dict[str, Any],
    key: str,
    component: Callable[[str], tuple[str, str] | None] | None,
    out: ThreatData,
) -> list[dict[str, Any]]:
    rows = []
    for entry in _records(obj, key):
        row: dict[str, Any] = {"name": _cell(obj, entry, "name"), "channel": _cell(obj, entry, "channel")}
        if component is not None:
            ref = _cell(obj, entry, "x_mitre_data_component_ref") or ""
            found = component(ref)
            if found is None:
                out.warnings.append(f"{_where(obj)}: data component {ref or '(none)'} is not in the bundle")
            row["data_component"], row["data_component_name"] = found or (None, None)
        rows.append(row)
    return rows
