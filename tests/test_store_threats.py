"""Groups, software, campaigns and detections from the STIX bundles: counts checked against the
bundles themselves, and bad objects handled as the ingest promises."""

from __future__ import annotations

import copy
from collections import Counter
from pathlib import Path
from typing import Any

import orjson
import pytest
from sqlalchemy import Engine, func, select

from store.ingest import IngestError, ingest_paths
from store.models import (
    Analytic,
    ComponentDetection,
    DataComponent,
    DetectionLink,
    DetectionStrategy,
    Threat,
    ThreatLink,
)
from tests.store_fixtures import stix_bundle, write_json

_THREAT_TYPES = {"intrusion-set": "group", "malware": "software", "tool": "software", "campaign": "campaign"}
STRATEGY, COMPONENT = "x-mitre-detection-strategy", "x-mitre-data-component"


def _has_attack_id(obj: dict[str, Any]) -> bool:
    return any(r.get("external_id") for r in obj.get("external_references") or ())


def _bundle_counts(objects: list[dict[str, Any]]) -> dict[str, Any]:
    kinds = {o["id"]: o["type"] for o in objects}
    live = [
        o
        for o in objects
        if o["type"] == "relationship" and not o.get("revoked") and not o.get("x_mitre_deprecated")
    ]
    links: Counter[tuple[str, str]] = Counter()
    for r in live:
        src, dst = kinds.get(r["source_ref"]), kinds.get(r["target_ref"])
        if r["relationship_type"] == "uses" and src in _THREAT_TYPES and dst == "attack-pattern":
            links[("uses", "technique")] += 1
        elif r["relationship_type"] == "uses" and src in _THREAT_TYPES and dst in ("malware", "tool"):
            links[("uses", "software")] += 1
        elif r["relationship_type"] == "attributed-to" and src == "campaign" and dst == "intrusion-set":
            links[("attributed-to", "group")] += 1
    return {
        "threats": Counter(_THREAT_TYPES[o["type"]] for o in objects if o["type"] in _THREAT_TYPES),
        "links": links,
        "detects": sum(
            1 for r in live if r["relationship_type"] == "detects" and kinds.get(r["source_ref"]) == STRATEGY
        ),
        "component_detects": sum(
            1
            for r in live
            if r["relationship_type"] == "detects"
            and kinds.get(r["source_ref"]) == COMPONENT
            and kinds.get(r["target_ref"]) == "attack-pattern"
        ),
        "strategies": sum(1 for o in objects if o["type"] == "x-mitre-detection-strategy"),
        "analytics": sum(1 for o in objects if o["type"] == "x-mitre-analytic"),
        "components": sum(1 for o in objects if o["type"] == COMPONENT and _has_attack_id(o)),
    }


def test_threats_links_and_detections_match_each_bundle(corpus_engine: Engine, corpus_dir: Path) -> None:
    for bundle in sorted((corpus_dir / "attack").glob("*.json")):
        want = _bundle_counts(orjson.loads(bundle.read_bytes())["objects"])
        domain = bundle.name.split("-")[0]
        with corpus_engine.connect() as conn:
            threats = Counter(
                dict(
                    conn.execute(
                        select(Threat.kind, func.count()).where(Threat.domain == domain).group_by(Threat.kind)
                    ).all()
                )
            )
            links = Counter(
                {
                    (rel, kind): n
                    for rel, kind, n in conn.execute(
                        select(ThreatLink.relationship, ThreatLink.target_kind, func.count())
                        .where(ThreatLink.domain == domain)
                        .group_by(ThreatLink.relationship, ThreatLink.target_kind)
                    )
                }
            )

            def count(model: Any, domain: str = domain) -> int:
                return int(conn.scalar(select(func.count()).where(model.domain == domain)) or 0)

            got = {
                "threats": threats,
                "links": links,
                "detects": count(DetectionLink),
                "component_detects": count(ComponentDetection),
                "strategies": count(DetectionStrategy),
                "analytics": count(Analytic),
                "components": count(DataComponent),
            }
        assert got == want, bundle.name


def test_apt29_has_its_aliases_and_procedures_with_resolved_citations(corpus_engine: Engine) -> None:
    with corpus_engine.connect() as conn:
        apt29 = conn.execute(
            select(Threat).where(Threat.attack_id == "G0016", Threat.domain == "enterprise")
        ).one()
        uses = conn.execute(
            select(ThreatLink.description, ThreatLink.citations).where(
                ThreatLink.source_attack_id == "G0016", ThreatLink.target_kind == "technique"
            )
        ).all()
    assert apt29.name == "APT29" and apt29.kind == "group"
    assert {"Cozy Bear", "NOBELIUM", "Midnight Blizzard"} <= set(apt29.aliases)
    assert apt29.url == "https://attack.mitre.org/groups/G0016"
    assert uses and all(u.description for u in uses)
    cited = [c for u in uses for c in u.citations]
    assert cited and all(c["name"] for c in cited) and any(c["url"] for c in cited)
    for u in uses:
        markers = [m.split(")")[0] for m in u.description.split("(Citation: ")[1:]]
        assert [c["name"] for c in u.citations][: len(dict.fromkeys(markers))] == list(dict.fromkeys(markers))


def test_analytics_name_their_data_components_platforms_and_tunable_elements(corpus_engine: Engine) -> None:
    with corpus_engine.connect() as conn:
        analytics = conn.execute(select(Analytic).where(Analytic.domain == "enterprise")).all()
        components = set(conn.scalars(select(DataComponent.attack_id)))
    assert all(a.platforms for a in analytics)
    sources = [s for a in analytics for s in a.log_sources]
    assert sources and all(s["data_component"] in components and s["name"] for s in sources)
    assert any(a.mutable_elements and a.mutable_elements[0]["field"] for a in analytics)


# --------------------------------------------------------------------------- bad input


def _threat_bundle() -> dict[str, Any]:
    doc = stix_bundle()
    doc["objects"] += [
        {
            "type": "intrusion-set",
            "id": "intrusion-set--apt29",
            "name": "APT29",
            "aliases": ["APT29", "Cozy Bear"],
            "external_references": [{"source_name": "mitre-attack", "external_id": "G0016"}],
        },
        {
            "type": "relationship",
            "id": "relationship--uses-1",
            "relationship_type": "uses",
            "source_ref": "intrusion-set--apt29",
            "target_ref": "attack-pattern--t1048",
            "description": "APT29 exfiltrated data.(Citation: Report A)",
            "external_references": [{"source_name": "Report A", "url": "https://example.org/a"}],
        },
        {"type": "x-mitre-asset", "id": "x-mitre-asset--1", "name": "HMI"},
        {"type": "x-new-thing", "id": "x-new-thing--1"},
        {
            "type": "relationship",
            "id": "relationship--dangling",
            "relationship_type": "uses",
            "source_ref": "intrusion-set--apt29",
            "target_ref": "attack-pattern--gone",
        },
    ]
    return doc


def test_unknown_types_are_skipped_and_counted_and_dangling_links_warned(
    engine: Engine, tmp_path: Path
) -> None:
    write_json(tmp_path / "enterprise-attack-18.1.json", _threat_bundle())
    report = ingest_paths(engine, [tmp_path])
    assert report.attack_skipped == {"enterprise": {"x-mitre-asset": 1, "x-new-thing": 1}}
    assert len(report.attack_warnings) == 1 and "attack-pattern--gone" in report.attack_warnings[0]
    with engine.connect() as conn:
        link = conn.execute(select(ThreatLink)).one()
    assert link.target_attack_id == "T1048"
    assert link.citations == [{"name": "Report A", "url": "https://example.org/a"}]


def test_reingesting_the_same_bundle_changes_nothing(engine: Engine, tmp_path: Path) -> None:
    write_json(tmp_path / "enterprise-attack-18.1.json", _threat_bundle())
    ingest_paths(engine, [tmp_path])
    again = ingest_paths(engine, [tmp_path])
    assert not again.changed
    with engine.connect() as conn:
        assert conn.scalar(select(func.count()).select_from(Threat)) == 1


@pytest.mark.parametrize(("field", "value"), [("name", 5), ("aliases", "Cozy Bear"), ("aliases", [1, 2])])
def test_a_broken_group_fails_the_run_naming_it_and_loads_nothing(
    engine: Engine, tmp_path: Path, field: str, value: Any
) -> None:
    write_json(tmp_path / "ok" / "enterprise-attack-18.1.json", _threat_bundle())
    ingest_paths(engine, [tmp_path / "ok"])
    doc = copy.deepcopy(_threat_bundle())
    doc["objects"][-5][field] = value
    doc["objects"][-5]["name"] = doc["objects"][-5].get("name") if field != "name" else value
    doc["objects"][2]["name"] = "Renamed so the bundle differs"
    write_json(tmp_path / "bad" / "enterprise-attack-18.1.json", doc)
    with pytest.raises(IngestError) as err:
        ingest_paths(engine, [tmp_path / "bad"])
    assert "intrusion-set--apt29" in str(err.value)
    with engine.connect() as conn:
        assert conn.scalar(select(Threat.aliases)) == ["Cozy Bear"]
