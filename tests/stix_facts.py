"""Facts read straight from the ATT&CK STIX bundles, for tests that check the store and the answers
against the data itself rather than against the code under test."""

from __future__ import annotations

from collections import defaultdict
from pathlib import Path
from typing import Any

import orjson

THREAT_TYPES = ("intrusion-set", "malware", "tool", "campaign")


def bundle_objects(corpus_dir: Path, domain: str = "enterprise") -> list[dict[str, Any]]:
    (path,) = (corpus_dir / "attack").glob(f"{domain}-attack-*.json")
    return list(orjson.loads(path.read_bytes())["objects"])


def external_id(obj: dict[str, Any]) -> str | None:
    """The ATT&CK ID (T1048, G0016, S0002, C0024) of a STIX object."""
    for ref in obj.get("external_references") or ():
        if ref.get("source_name", "").startswith("mitre") and ref.get("external_id"):
            return str(ref["external_id"])
    return None


def uses_targets(objects: list[dict[str, Any]]) -> dict[str, set[str]]:
    """ATT&CK ID of each threat -> the technique IDs of its current ``uses`` links; a revoked
    technique counts as its replacement (followed to the end), as the answers show it."""
    by_id = {o["id"]: o for o in objects}
    revoked_by = {
        r["source_ref"]: r["target_ref"]
        for r in objects
        if r["type"] == "relationship" and r["relationship_type"] == "revoked-by"
    }
    out: dict[str, set[str]] = defaultdict(set)
    for r in objects:
        if r["type"] != "relationship" or r["relationship_type"] != "uses" or r.get("revoked"):
            continue
        src, dst = by_id.get(r["source_ref"]), by_id.get(r["target_ref"])
        if not (src and dst and dst["type"] == "attack-pattern" and src["type"] in THREAT_TYPES):
            continue
        seen = {dst["id"]}
        while dst.get("revoked") and revoked_by.get(dst["id"]) in by_id and revoked_by[dst["id"]] not in seen:
            dst = by_id[revoked_by[dst["id"]]]
            seen.add(dst["id"])
        out[str(external_id(src))].add(str(external_id(dst)))
    return out
