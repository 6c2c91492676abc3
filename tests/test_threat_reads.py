"""Threat and detection reads, checked against the bundles and mapping files themselves."""

from __future__ import annotations

from collections import defaultdict
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import orjson
import pytest
from sqlalchemy import Engine
from sqlalchemy.orm import Session

from store.ingest import ingest_paths
from store.reads.detections import detections_for_technique
from store.reads.threats import technique_texts, threat_by_id, threat_names, threats_using_technique
from tests.stix_facts import THREAT_TYPES, bundle_objects, external_id, uses_targets
from tests.store_fixtures import stix_bundle, write_json


@pytest.fixture
def session(corpus_engine: Engine) -> Iterator[Session]:
    with Session(corpus_engine) as s:
        yield s


@pytest.fixture(scope="module")
def enterprise(corpus_dir: Path) -> list[dict[str, Any]]:
    return bundle_objects(corpus_dir)


def test_every_threats_techniques_equal_its_uses_targets_in_the_bundle(
    session: Session, enterprise: list[dict[str, Any]]
) -> None:
    want = uses_targets(enterprise)
    ids = [external_id(o) for o in enterprise if o["type"] in THREAT_TYPES]
    assert len(ids) > 1000
    for attack_id in ids:
        assert attack_id
        view = threat_by_id(session, attack_id, coverage=False)
        assert view is not None, attack_id
        if view.domain == "enterprise":
            assert set(view.technique_ids) == want.get(attack_id, set()), attack_id


def test_apt29_is_one_group_under_all_its_names(session: Session) -> None:
    refs = {r.attack_id: r for r in threat_names(session)}
    apt29 = refs["G0016"]
    assert apt29.name == "APT29" and apt29.kind == "group"
    assert {"Cozy Bear", "NOBELIUM", "Midnight Blizzard"} <= set(apt29.aliases)
    assert refs["S0002"].name == "Mimikatz" and refs["S0002"].kind == "software"
    assert refs["C0024"].kind == "campaign"


def test_coverage_counts_equal_a_recount_from_the_mapping_file(session: Session, corpus_dir: Path) -> None:
    view = threat_by_id(session, "G0016")
    assert view is not None and view.coverage
    tids = set(view.technique_ids)
    for fc in view.coverage:
        ref = fc.release
        files = [
            p
            for p in (corpus_dir / "mappings").rglob("*.json")
            if (doc := orjson.loads(p.read_bytes()))["metadata"]["mapping_framework"] == ref.framework
            and doc["metadata"]["mapping_framework_version"] == ref.framework_version
            and doc["metadata"]["attack_version"] == ref.attack_version
            and doc["metadata"]["technology_domain"] == ref.domain
        ]
        assert len(files) == 1, ref
        recount: dict[str, set[str]] = defaultdict(set)
        for o in orjson.loads(files[0].read_bytes())["mapping_objects"]:
            tid = (o.get("attack_object_id") or "").upper()
            if o.get("status") != "non_mappable" and o.get("capability_id") and tid in tids:
                recount[o["capability_id"]].add(tid)
        got = {c.capability_id: c.covered for c in fc.controls}
        assert sum(got.values()) == sum(len(v) for v in recount.values()), ref
        assert sorted(got.values(), reverse=True) == sorted((len(v) for v in recount.values()), reverse=True)
        assert [c.covered for c in fc.controls] == sorted((c.covered for c in fc.controls), reverse=True)
        assert set(fc.unmapped) == tids - {t for v in recount.values() for t in v}
        assert all(c.of == len(tids) for c in fc.controls)


def test_software_lists_the_groups_that_use_it(session: Session) -> None:
    view = threat_by_id(session, "S0002", coverage=False)
    assert view is not None and view.threat.stix_type == "tool"
    assert "G0016" in {r.attack_id for r in view.used_by}


def test_campaign_names_the_group_it_is_attributed_to(session: Session) -> None:
    view = threat_by_id(session, "C0024", coverage=False)
    assert view is not None and view.attributed_to and view.procedures


def test_technique_lists_the_threats_that_use_it(session: Session, enterprise: list[dict[str, Any]]) -> None:
    want = {t for t, techniques in uses_targets(enterprise).items() if "T1048" in techniques}
    assert {r.attack_id for r in threats_using_technique(session, "T1048")} == want


def test_detections_for_t1048_are_the_bundles_strategies_with_their_analytics(
    session: Session, enterprise: list[dict[str, Any]]
) -> None:
    by_id = {o["id"]: o for o in enterprise}
    tech = next(o for o in enterprise if o["type"] == "attack-pattern" and external_id(o) == "T1048")
    strategies = [
        by_id[r["source_ref"]]
        for r in enterprise
        if r["type"] == "relationship"
        and r["relationship_type"] == "detects"
        and r["target_ref"] == tech["id"]
    ]
    view = detections_for_technique(session, "t1048")
    assert view is not None
    assert [s.attack_id for s in view.strategies] == sorted(external_id(s) for s in strategies)
    for s in view.strategies:
        src = next(x for x in strategies if external_id(x) == s.attack_id)
        want = [external_id(by_id[a]) for a in src["x_mitre_analytic_refs"]]
        assert [a.attack_id for a in s.analytics] == want
        assert all(a.platforms and a.description for a in s.analytics)
    assert view.sections and all(ln.score_category == "detect" for s in view.sections for ln in s.lines)


def test_technique_texts_hold_procedures_and_detections(session: Session) -> None:
    texts = technique_texts(session)
    assert texts["T1003.001"].procedures and texts["T1048"].detections
    assert any("Mimikatz" in p for p in texts["T1003.001"].procedures)


def test_a_revoked_uses_target_is_shown_through_its_replacement(engine: Engine, tmp_path: Path) -> None:
    doc = stix_bundle()
    doc["objects"] += [
        {
            "type": "relationship",
            "id": "relationship--rev",
            "relationship_type": "revoked-by",
            "source_ref": "attack-pattern--old",
            "target_ref": "attack-pattern--t1048",
        },
        {
            "type": "intrusion-set",
            "id": "intrusion-set--x",
            "name": "Group X",
            "external_references": [{"source_name": "mitre-attack", "external_id": "G9999"}],
        },
        {
            "type": "relationship",
            "id": "relationship--u",
            "relationship_type": "uses",
            "source_ref": "intrusion-set--x",
            "target_ref": "attack-pattern--old",
            "description": "Group X did it.",
        },
    ]
    write_json(tmp_path / "enterprise-attack-18.1.json", doc)
    ingest_paths(engine, [tmp_path])
    with Session(engine) as s:
        view = threat_by_id(s, "G9999")
    assert view is not None
    (proc,) = view.procedures
    assert proc.technique_id == "T1048" and proc.revoked_id == "T1020" and proc.text == "Group X did it."
