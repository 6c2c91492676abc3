"""ATT&CK before v18 had no detection strategies: a data component ``detects`` a technique and the
link's text says what to look for, and components had no ATT&CK ID.  Such a bundle (an older
release, loaded beside mappings made for it) still answers "how do I detect …"."""

from __future__ import annotations

from pathlib import Path
from typing import Any

import pytest
from sqlalchemy import Engine

from bot.answer import Answerer
from bot.cli import main
from bot.config import Settings
from store.db import session_scope
from store.ingest import ingest_paths
from store.reads.detections import detections_for_technique
from tests.store_fixtures import stix_bundle, write_json


def _v17_bundle() -> dict[str, Any]:
    doc = stix_bundle()
    doc["objects"] += [
        {
            "type": "x-mitre-data-source",
            "id": "x-mitre-data-source--nt",
            "name": "Network Traffic",
            "external_references": [
                {
                    "source_name": "mitre-attack",
                    "external_id": "DS0029",
                    "url": "https://attack.mitre.org/datasources/DS0029",
                }
            ],
        },
        {
            "type": "x-mitre-data-component",
            "id": "x-mitre-data-component--flow",
            "name": "Network Traffic Flow",
            "x_mitre_data_source_ref": "x-mitre-data-source--nt",
        },
        {
            "type": "x-mitre-data-component",
            "id": "x-mitre-data-component--content",
            "name": "Network Traffic Content",
            "x_mitre_data_source_ref": "x-mitre-data-source--nt",
        },
        {
            "type": "relationship",
            "id": "relationship--dc-1",
            "relationship_type": "detects",
            "source_ref": "x-mitre-data-component--flow",
            "target_ref": "attack-pattern--t1048",
            "description": "Monitor network data for uncommon data flows.(Citation: Guide)",
        },
        {
            "type": "relationship",
            "id": "relationship--dc-2",
            "relationship_type": "detects",
            "source_ref": "x-mitre-data-component--content",
            "target_ref": "attack-pattern--t1048",
            "description": "Monitor and analyze traffic patterns and packet inspection.",
        },
    ]
    return doc


def _load(engine: Engine, tmp_path: Path) -> Any:
    write_json(tmp_path / "enterprise-attack-17.1.json", _v17_bundle())
    return ingest_paths(engine, [tmp_path])


def test_component_links_load_without_warnings_although_components_have_no_id(
    engine: Engine, tmp_path: Path
) -> None:
    report = _load(engine, tmp_path)
    assert report.attack_warnings == []


def test_the_detection_view_lists_each_component_by_data_source_with_what_to_look_for(
    engine: Engine, tmp_path: Path
) -> None:
    _load(engine, tmp_path)
    with session_scope(engine) as session:
        view = detections_for_technique(session, "T1048")
    assert view is not None and view.strategies == ()
    assert [
        (c.data_source_id, c.data_source_name, c.component_name, c.component_id) for c in view.components
    ] == [
        ("DS0029", "Network Traffic", "Network Traffic Content", None),
        ("DS0029", "Network Traffic", "Network Traffic Flow", None),
    ]
    assert view.components[1].text == "Monitor network data for uncommon data flows."


def test_how_do_i_detect_answers_with_the_components_in_slack_and_the_terminal(
    engine: Engine, database_url: str, tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    _load(engine, tmp_path)
    answer = Answerer(engine, Settings()).answer("how do I detect T1048", frameworks=())
    blocks = str(answer.payload.blocks)
    assert "Network Traffic: Network Traffic Flow" in blocks and "uncommon data flows" in blocks
    assert "no detection strategy" not in blocks
    assert main(["--db", database_url, "ask", "how do I detect T1048"]) == 0
    text = capsys.readouterr().out
    assert "ATT&CK 17.1 detects it through 2 data components" in text
    assert "Data components: ATT&CK 17.1 enterprise" in text
    assert "Network Traffic: Network Traffic Content" in text and "packet inspection" in text


def test_a_bundle_loaded_again_keeps_one_row_per_link(engine: Engine, tmp_path: Path) -> None:
    _load(engine, tmp_path)
    write_json(tmp_path / "enterprise-attack-17.1.json", {**_v17_bundle(), "id": "bundle--2"})
    ingest_paths(engine, [tmp_path])
    with session_scope(engine) as session:
        view = detections_for_technique(session, "T1048")
    assert view is not None and len(view.components) == 2


def test_a_threat_asked_how_to_detect_counts_the_components_of_its_techniques(
    engine: Engine, tmp_path: Path
) -> None:
    from store.reads.threats import threat_by_id
    from store.views import Filters

    doc = _v17_bundle()
    doc["objects"] += [
        {
            "type": "intrusion-set",
            "id": "intrusion-set--g1",
            "name": "Example Group",
            "external_references": [{"source_name": "mitre-attack", "external_id": "G9999"}],
        },
        {
            "type": "relationship",
            "id": "relationship--uses-1",
            "relationship_type": "uses",
            "source_ref": "intrusion-set--g1",
            "target_ref": "attack-pattern--t1048",
        },
    ]
    write_json(tmp_path / "enterprise-attack-17.1.json", doc)
    ingest_paths(engine, [tmp_path])
    with session_scope(engine) as session:
        view = threat_by_id(session, "G9999", frameworks=(), filters=Filters(categories=("detect",)))
    assert view is not None
    assert sorted((c.data_source, c.name, c.techniques, c.of) for c in view.collect) == [
        ("Network Traffic", "Network Traffic Content", 1, 1),
        ("Network Traffic", "Network Traffic Flow", 1, 1),
    ]
