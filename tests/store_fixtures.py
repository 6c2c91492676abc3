"""Small hand-written data files for store tests (never copies of the real data)."""

from __future__ import annotations

import copy
from pathlib import Path
from typing import Any

import orjson
import yaml


def mapping_document(
    *,
    framework: str = "nist_800_53",
    version: str = "rev5",
    attack_version: str = "14.1",
    domain: str = "enterprise",
    rows: list[dict[str, Any]] | None = None,
) -> dict[str, Any]:
    if rows is None:
        rows = [
            mapping_row("AC-2", "T1078"),
            mapping_row("SC-07", "T1048"),
            mapping_row("SC-7", "T1048.003"),
            mapping_row(None, "T1020", status="non_mappable", mapping_type="non_mappable"),
        ]
    return {
        "metadata": {
            "mapping_version": "",
            "attack_version": attack_version,
            "technology_domain": domain,
            "creation_date": "01/13/2022",
            "last_update": "02/03/2024",
            "mapping_framework": framework,
            "mapping_framework_version": version,
            "author": None,
            "contact": None,
            "organization": None,
            "mapping_types": {"protects": {"name": "Protects", "description": ""}},
            "capability_groups": {"AC": "Access Control", "SC": "System and Communications Protection"},
        },
        "mapping_objects": rows,
    }


def mapping_row(
    capability: str | None,
    technique: str | None,
    *,
    status: str = "complete",
    mapping_type: str | None = "protects",
    name: str = "A control",
    comments: str | None = None,
) -> dict[str, Any]:
    return {
        "capability_id": capability,
        "capability_description": name if capability else None,
        "capability_group": capability[:2] if capability else None,
        "attack_object_id": technique,
        "attack_object_name": f"Technique {technique}" if technique else None,
        "mapping_type": mapping_type,
        "comments": comments,
        "references": [],
        "status": status,
    }


def write_json(path: Path, document: Any) -> Path:
    path.parent.mkdir(parents=True, exist_ok=True)
    path.write_bytes(orjson.dumps(document, option=orjson.OPT_INDENT_2))
    return path


def write_yaml(path: Path, document: Any) -> Path:
    path.parent.mkdir(parents=True, exist_ok=True)
    path.write_text(yaml.safe_dump(document, sort_keys=False, allow_unicode=True))
    return path


def stix_bundle(domain: str = "enterprise") -> dict[str, Any]:
    src = {"enterprise": "mitre-attack", "mobile": "mitre-mobile-attack", "ics": "mitre-ics-attack"}[domain]

    def ext(eid: str, kind: str = "techniques") -> list[dict[str, str]]:
        return [
            {
                "source_name": "mitre-attack",
                "external_id": eid,
                "url": f"https://attack.mitre.org/{kind}/{eid}",
            }
        ]

    return {
        "type": "bundle",
        "id": "bundle--1",
        "objects": [
            {
                "type": "x-mitre-matrix",
                "id": "x-mitre-matrix--1",
                "external_references": [{"source_name": "mitre-attack", "external_id": f"{domain}-attack"}],
                "tactic_refs": ["x-mitre-tactic--ex"],
            },
            {
                "type": "x-mitre-tactic",
                "id": "x-mitre-tactic--ex",
                "name": "Exfiltration",
                "x_mitre_shortname": "exfiltration",
                "external_references": ext("TA0010", "tactics"),
            },
            {
                "type": "attack-pattern",
                "id": "attack-pattern--t1048",
                "name": "Exfiltration Over Alternative Protocol",
                "external_references": ext("T1048"),
                "kill_chain_phases": [{"kill_chain_name": src, "phase_name": "exfiltration"}],
                "x_mitre_platforms": ["Linux", "Windows"],
            },
            {
                "type": "attack-pattern",
                "id": "attack-pattern--t1048.003",
                "name": "Exfiltration Over Unencrypted Non-C2 Protocol",
                "x_mitre_is_subtechnique": True,
                "external_references": ext("T1048.003"),
                "kill_chain_phases": [{"kill_chain_name": src, "phase_name": "exfiltration"}],
            },
            {
                "type": "attack-pattern",
                "id": "attack-pattern--old",
                "name": "Old technique",
                "revoked": True,
                "external_references": ext("T1020"),
            },
            {
                "type": "course-of-action",
                "id": "course-of-action--m1037",
                "name": "Filter Network Traffic",
                "external_references": ext("M1037", "mitigations"),
            },
            {
                "type": "relationship",
                "id": "relationship--1",
                "relationship_type": "mitigates",
                "source_ref": "course-of-action--m1037",
                "target_ref": "attack-pattern--t1048",
            },
            {
                "type": "relationship",
                "id": "relationship--2",
                "relationship_type": "revoked-by",
                "source_ref": "attack-pattern--old",
                "target_ref": "attack-pattern--t1048",
            },
            {
                "type": "relationship",
                "id": "relationship--3",
                "relationship_type": "subtechnique-of",
                "source_ref": "attack-pattern--t1048.003",
                "target_ref": "attack-pattern--t1048",
            },
        ],
    }


def changed(document: dict[str, Any], **row_changes: Any) -> dict[str, Any]:
    doc = copy.deepcopy(document)
    doc["mapping_objects"][0].update(row_changes)
    return doc
