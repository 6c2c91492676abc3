"""Gap reports for actors, software and campaigns: their techniques come from the bundle's ``uses``
links, coverage from the mapping files, both recomputed here independently of the store."""

from __future__ import annotations

import json
from collections import defaultdict
from dataclasses import replace
from pathlib import Path

import pytest
from sqlalchemy import Engine

from bot.config import load_settings
from bot.coverage.answers import Refusal, gap_report_for
from bot.coverage.views import GapReport
from bot.index_cache import build_index
from bot.render.coverage import PLAIN, gap_report_lines
from bot.resolution import ThreatHit
from bot.resolve import resolve
from store.ids import canonical_capability_id
from store.reads.scope import reads
from store.state.inventory import WORKSPACE, Control, Inventory
from tests.stix_facts import bundle_objects, uses_targets


@pytest.fixture(scope="module")
def index(corpus_engine: Engine):  # type: ignore[no-untyped-def]
    with reads(corpus_engine) as data:
        return build_index(data, data.data_version(), load_settings(env={}), use_cache=False)


@pytest.fixture(scope="module")
def uses(corpus_dir: Path) -> dict[str, set[str]]:
    return uses_targets(bundle_objects(corpus_dir))


def _nist_rev5(corpus_dir: Path) -> dict[str, set[str]]:
    folder = corpus_dir / "mappings" / "nist_800_53" / "attack-16.1" / "nist_800_53-rev5" / "enterprise"
    (path,) = folder.glob("*.json")
    out: dict[str, set[str]] = defaultdict(set)
    for r in json.loads(path.read_text())["mapping_objects"]:
        if r.get("status") != "non_mappable" and r.get("capability_id") and r.get("attack_object_id"):
            out[r["attack_object_id"]].add(canonical_capability_id("nist_800_53", r["capability_id"]))
    return out


HELD = ("SI-04", "AC-03", "SC-07")


@pytest.mark.parametrize(
    ("question", "attack_id", "kind"),
    [
        ("gaps APT29", "G0016", "actor"),
        ("are we covered against Cozy Bear?", "G0016", "actor"),
        ("gaps mimikatz", "S0002", "software"),
        ("gaps C0024", "C0024", "campaign"),
    ],
)
def test_a_threat_gap_report_covers_its_uses_targets_with_coverage_from_the_mapping_file(
    corpus_engine: Engine,
    corpus_dir: Path,
    index,  # type: ignore[no-untyped-def]
    uses: dict[str, set[str]],
    question: str,
    attack_id: str,
    kind: str,
) -> None:
    held = Inventory("T", WORKSPACE, tuple(Control("nist_800_53", c) for c in HELD), 1, None, None)
    report = gap_report_for(corpus_engine, question, resolve(index, question), held)
    assert isinstance(report, GapReport), report
    assert (report.subject.kind, report.subject.id) == (kind, attack_id)
    assert set(report.coverage.techniques) == uses[attack_id]
    nist = _nist_rev5(corpus_dir)
    for t in uses[attack_id]:
        mine = nist.get(t, set()) & set(HELD)
        assert {c for _, c in report.coverage.covered.get(t, ())} == mine, t
    assert set(report.coverage.gaps) == {t for t in uses[attack_id] if not nist.get(t, set()) & set(HELD)}
    for s in report.coverage.suggestions.get("nist_800_53", ()):
        assert s.capability_id not in HELD and all(s.capability_id in nist[t] for t in s.closes)


def test_a_threat_gap_report_names_the_threat_and_counts_what_is_covered(
    corpus_engine: Engine, index
) -> None:  # type: ignore[no-untyped-def]
    held = Inventory("T", WORKSPACE, (Control("nist_800_53", "SI-04"),), 1, None, None)
    report = gap_report_for(corpus_engine, "gaps APT29", resolve(index, "gaps APT29"), held)
    assert isinstance(report, GapReport)
    text = "\n".join(gap_report_lines(report, PLAIN))
    total = len(report.coverage.techniques)
    assert "G0016 APT29" in text
    assert f"{report.coverage.covered_count} of {total}" in text


def test_a_threat_the_data_does_not_hold_is_refused_plainly(corpus_engine: Engine, index) -> None:  # type: ignore[no-untyped-def]
    ghost = replace(resolve(index, "gaps APT29"), threats=(ThreatHit("G9999", "Nobody", "actor", 100.0),))
    found = gap_report_for(corpus_engine, "gaps G9999", ghost, None)
    assert isinstance(found, Refusal) and "G9999" in found.message


def test_a_watched_actor_counts_as_the_techniques_it_uses(
    corpus_engine: Engine,
    index,  # type: ignore[no-untyped-def]
    uses: dict[str, set[str]],
) -> None:
    report = gap_report_for(corpus_engine, "watch", resolve(index, "watch"), None, watch=["G0016", "T1048"])
    assert isinstance(report, GapReport)
    assert set(report.coverage.techniques) == uses["G0016"] | {"T1048"}
