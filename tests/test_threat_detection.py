"""'How do I detect APT29': besides the controls in the detect category, the data components to
collect, each with how many of the threat's techniques ATT&CK's detection strategies read it for.
Counted again here from the STIX bundle itself."""

from __future__ import annotations

from collections import defaultdict
from pathlib import Path
from typing import Any

import pytest
from sqlalchemy import Engine

from bot.answer import Answerer
from bot.config import Settings
from bot.render.limits import violations
from store.db import session_scope
from store.reads.threats import threat_by_id
from store.views import Filters
from tests.stix_facts import bundle_objects, external_id, uses_targets

DETECT = Filters(categories=("detect",))


@pytest.fixture(scope="module")
def objects(corpus_dir: Path) -> list[dict[str, Any]]:
    return bundle_objects(corpus_dir)


def _components_per_technique(objects: list[dict[str, Any]]) -> dict[str, set[str]]:
    """technique ID → the data component IDs its live detection strategies' analytics read."""
    by_id = {o["id"]: o for o in objects}
    live = {o["id"] for o in objects if not o.get("revoked") and not o.get("x_mitre_deprecated")}
    out: dict[str, set[str]] = defaultdict(set)
    for r in objects:
        if r["type"] != "relationship" or r["relationship_type"] != "detects" or r["id"] not in live:
            continue
        strategy, technique = by_id.get(r["source_ref"]), by_id.get(r["target_ref"])
        if not strategy or not technique or strategy["type"] != "x-mitre-detection-strategy":
            continue
        if strategy["id"] not in live:
            continue
        for ref in strategy.get("x_mitre_analytic_refs") or ():
            analytic = by_id.get(ref)
            if analytic is None or analytic["id"] not in live:
                continue
            for src in analytic.get("x_mitre_log_source_references") or ():
                dc = by_id.get(src.get("x_mitre_data_component_ref", ""))
                if dc is not None:
                    out[str(external_id(technique))].add(str(external_id(dc)))
    return out


def test_each_data_component_counts_the_threat_techniques_it_helps_detect(
    corpus_engine: Engine, objects: list[dict[str, Any]]
) -> None:
    techniques = uses_targets(objects)["G0016"]
    per_technique = _components_per_technique(objects)
    want: dict[str, int] = defaultdict(int)
    for tid in techniques:
        for dc in per_technique.get(tid, ()):
            want[dc] += 1
    with session_scope(corpus_engine) as session:
        view = threat_by_id(session, "G0016", frameworks=(), filters=DETECT)
    assert view is not None and set(view.technique_ids) == techniques
    got = {c.data_component: c.techniques for c in view.collect}
    assert got == dict(want)
    assert all(c.of == len(techniques) for c in view.collect)
    assert [c.techniques for c in view.collect] == sorted(got.values(), reverse=True)


def test_the_list_comes_only_with_a_detection_question(corpus_engine: Engine) -> None:
    with session_scope(corpus_engine) as session:
        view = threat_by_id(session, "G0016", frameworks=())
    assert view is not None and view.collect == ()


def test_how_do_i_detect_an_actor_shows_what_to_collect_within_slack_limits(corpus_engine: Engine) -> None:
    answer = Answerer(corpus_engine, Settings()).answer("how do I detect APT29", frameworks=())
    payload = answer.payload.to_dict()
    assert "Data to collect" in str(payload["blocks"]) and "Process Creation" in str(payload["blocks"])
    assert violations(payload) == []
