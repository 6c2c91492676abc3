"""Coverage, gaps, pivots, several controls and diffs: the arithmetic on small cases, and the
answers on the real corpus checked against the mapping files themselves."""

from __future__ import annotations

import json
import random
import uuid
from collections import defaultdict
from pathlib import Path

import pytest
from sqlalchemy import Engine, select

from bot.coverage import compute, service
from bot.coverage.answers import Refusal, answer_coverage_question, gap_report_for
from bot.coverage.views import DiffAnswer, GapReport, PivotAnswer, Subject, TogetherAnswer
from bot.index_cache import build_index
from bot.render.coverage import PLAIN, gap_report_lines, pivot_lines
from bot.render.coverage_blocks import as_blocks
from bot.render.gap_export import gap_csv, gap_layer
from bot.resolve import resolve
from store.coverage_views import ControlTechniques, MappingFact
from store.db import session_scope
from store.ids import canonical_capability_id
from store.models import Mapping
from store.reads.coverage import (
    all_releases,
    control_names,
    controls_mapping,
    technique_counts,
    technique_names,
    techniques_of_control,
)
from store.reads.coverage_index import coverage_snapshot
from store.reads.scope import reads
from store.state.inventory import WORKSPACE, Control, Inventory


def ct(cid: str, *techniques: str, fw: str = "nist_800_53") -> ControlTechniques:
    return ControlTechniques(fw, cid, cid, frozenset(techniques))


def inv(*controls: Control) -> Inventory:
    return Inventory("T", WORKSPACE, tuple(controls), 1, None, None)


# --------------------------------------------------------------------------- arithmetic


def test_greedy_cover_takes_the_biggest_gain_first_and_stops_when_nothing_more_closes() -> None:
    cands = [ct("A", "T1", "T2"), ct("B", "T2", "T3", "T4"), ct("C", "T1"), ct("D", "T9")]
    steps = compute.greedy_cover({"T1", "T2", "T3", "T4"}, cands)
    assert [(s.capability_id, s.closes) for s in steps] == [("B", ("T2", "T3", "T4")), ("A", ("T1",))]


def test_coverage_splits_covered_from_gaps_and_suggests_only_controls_not_held() -> None:
    controls = [ct("SC-07", "T1", "T2"), ct("SI-04", "T2", "T3"), ct("AC-02", "T3")]
    cov = compute.coverage(["T1", "T2", "T3", "T4"], controls, deployed={("nist_800_53", "SC-07")})
    assert cov.covered == {"T1": (("nist_800_53", "SC-07"),), "T2": (("nist_800_53", "SC-07"),)}
    assert cov.gaps == ("T3", "T4")
    assert cov.unmappable == ("T4",)
    assert [s.capability_id for s in cov.suggestions["nist_800_53"]] == ["AC-02"]


def test_a_planned_control_is_not_coverage_but_is_named_for_the_gap_it_would_close() -> None:
    cov = compute.coverage(["T1"], [ct("SI-04", "T1")], deployed=set(), planned={("nist_800_53", "SI-04")})
    assert cov.gaps == ("T1",) and cov.planned_cover == {"T1": (("nist_800_53", "SI-04"),)}
    assert cov.suggestions["nist_800_53"][0].planned


def test_pivot_ranks_by_shared_techniques_then_jaccard() -> None:
    src = ct("SC-07", "T1", "T2", "T3")
    targets = [ct("a", "T1", fw="aws"), ct("b", "T1", "T2", fw="aws"), ct("c", "T1", "T2", fw="aws")]
    lines = compute.pivot(src, targets, {("aws", "a"): 1, ("aws", "b"): 10, ("aws", "c"): 2})
    assert [x.capability_id for x in lines] == ["c", "b", "a"]
    assert lines[0].jaccard == pytest.approx(2 / 3) and lines[0].missing == {"T3"}


def test_together_says_what_each_control_adds() -> None:
    t = compute.together([ct("SC-07", "T1", "T2"), ct("SI-04", "T2", "T3")])
    assert t.union == {"T1", "T2", "T3"} and t.shared_by_all == {"T2"}
    assert t.adds == {"nist_800_53:SC-07": {"T1"}, "nist_800_53:SI-04": {"T3"}}


def fact(
    cid: str, tid: str, mtype: str = "protects", cat: str | None = None, val: str | None = None
) -> MappingFact:
    return MappingFact(cid, cid, tid, tid, mtype, cat, val)


def test_diff_lists_added_removed_and_rescored_pairs() -> None:
    before = [fact("A", "T1", "technique_scores", "protect", "minimal"), fact("B", "T1", "technique_scores")]
    after = [
        fact("A", "T1", "technique_scores", "protect", "significant"),
        fact("C", "T1", "technique_scores"),
    ]
    d = compute.diff(before, after)
    assert [c.capability_id for c in d.added] == ["C"] and [c.capability_id for c in d.removed] == ["B"]
    assert [(c.before, c.after) for c in d.changed] == [
        (("technique_scores · protect · minimal",), ("technique_scores · protect · significant",))
    ]


def test_diff_reports_a_renamed_mapping_type_once_instead_of_every_pair() -> None:
    before = [fact("A", "T1", "protects"), fact("B", "T2", "protects")]
    after = [fact("A", "T1", "mitigates"), fact("B", "T2", "mitigates"), fact("C", "T3", "mitigates")]
    d = compute.diff(before, after)
    assert not d.changed and d.unchanged == 2 and d.renamed_types == (("protects", "mitigates", 2),)
    assert [c.capability_id for c in d.added] == ["C"]


# --------------------------------------------------------------------------- the real corpus


def _rows(corpus_dir: Path, framework: str, attack: str, version_dir: str) -> list[dict]:  # type: ignore[type-arg]
    folder = corpus_dir / "mappings" / framework / f"attack-{attack}" / version_dir / "enterprise"
    (path,) = folder.glob("*.json")
    return json.loads(path.read_text())["mapping_objects"]


def _by_technique(rows: list[dict], framework: str) -> dict[str, set[str]]:  # type: ignore[type-arg]
    out: dict[str, set[str]] = defaultdict(set)
    for r in rows:
        if r.get("status") != "non_mappable" and r.get("capability_id") and r.get("attack_object_id"):
            out[r["attack_object_id"]].add(canonical_capability_id(framework, r["capability_id"]))
    return out


@pytest.fixture(scope="module")
def index(corpus_engine: Engine):  # type: ignore[no-untyped-def]
    from bot.config import load_settings

    with reads(corpus_engine) as data:
        return build_index(data, data.data_version(), load_settings(env={}), use_cache=False)


def test_a_cve_gap_report_equals_the_kev_and_nist_files(
    corpus_engine: Engine, corpus_dir: Path, index
) -> None:  # type: ignore[no-untyped-def]
    cve = "CVE-2023-34362"
    kev = _rows(corpus_dir, "kev", "16.1", "kev-07.28.2025")  # the newest KEV release
    expected_techniques = {
        r["attack_object_id"] for r in kev if r.get("capability_id") == cve and r.get("attack_object_id")
    }
    nist = _by_technique(_rows(corpus_dir, "nist_800_53", "16.1", "nist_800_53-rev5"), "nist_800_53")
    held = Inventory(
        "T", WORKSPACE, (Control("nist_800_53", "SI-04"), Control("nist_800_53", "SC-07")), 1, None, None
    )
    r = resolve(index, cve)
    report = gap_report_for(corpus_engine, cve, r, held)
    assert isinstance(report, GapReport)
    assert set(report.coverage.techniques) == expected_techniques
    for t in expected_techniques:
        mine = nist.get(t, set()) & {"SI-04", "SC-07"}
        assert (t in report.coverage.covered) == bool(mine), t
        if mine:
            assert {c for _, c in report.coverage.covered[t]} == mine
    for s in report.coverage.suggestions.get("nist_800_53", ()):
        assert all(s.capability_id in nist[t] for t in s.closes)
    assert set(report.coverage.unmappable) == {t for t in report.coverage.gaps if not nist.get(t)}


def test_a_tactic_gap_report_holds_every_current_technique_of_the_tactic(
    corpus_engine: Engine, index
) -> None:  # type: ignore[no-untyped-def]
    report = gap_report_for(
        corpus_engine, "exfiltration", resolve(index, "exfiltration"), None, frameworks=("nist_800_53",)
    )
    assert isinstance(report, GapReport) and report.subject.id == "TA0010"
    assert "T1048" in report.coverage.techniques and "T1048.003" in report.coverage.techniques
    assert report.coverage.covered_count == 0 and report.inventory_scope == "none"
    text = "\n".join(gap_report_lines(report, PLAIN))
    assert "No control inventory yet" in text


def test_pivot_sc07_to_aws_counts_overlap_from_the_files(
    corpus_engine: Engine, corpus_dir: Path, index
) -> None:  # type: ignore[no-untyped-def]
    nist = _rows(corpus_dir, "nist_800_53", "16.1", "nist_800_53-rev5")
    aws = _rows(corpus_dir, "aws", "16.1", "aws-12.12.2024")
    src = {
        r["attack_object_id"]
        for r in nist
        if r.get("capability_id")
        and canonical_capability_id("nist_800_53", r["capability_id"]) == "SC-07"
        and r.get("status") != "non_mappable"
    }
    by_cap: dict[str, set[str]] = defaultdict(set)
    for row in aws:
        if row.get("capability_id") and row.get("attack_object_id") and row.get("status") != "non_mappable":
            by_cap[row["capability_id"].lower()].add(row["attack_object_id"])
    answer = answer_coverage_question(
        corpus_engine, "SC-07 in aws", resolve(index, "SC-07 in aws"), default_frameworks=()
    )
    assert isinstance(answer, PivotAnswer) and answer.source_techniques == src
    best = answer.lines[0]
    assert len(best.shared) == max(len(src & t) for t in by_cap.values())
    total = by_cap[best.capability_id]
    assert best.jaccard == pytest.approx(len(src & total) / len(src | total))
    assert f"covers {len(best.shared)} of the {len(src)} techniques" in "\n".join(pivot_lines(answer, PLAIN))


def test_two_controls_give_them_together_not_the_first_alone(corpus_engine: Engine, index) -> None:  # type: ignore[no-untyped-def]
    answer = answer_coverage_question(
        corpus_engine, "SC-07 SI-04", resolve(index, "SC-07 SI-04"), default_frameworks=()
    )
    assert isinstance(answer, TogetherAnswer)
    assert [c.capability_id for c in answer.together.controls] == ["SC-07", "SI-04"]
    a, b = answer.together.controls
    assert answer.together.union == a.techniques | b.techniques


@pytest.mark.parametrize("question", ["T1048 rev4 vs rev5", "T1048 14.1 vs 16.1", "AC-02 rev4 vs rev5"])
def test_diffs_compare_two_real_releases(corpus_engine: Engine, index, question: str) -> None:  # type: ignore[no-untyped-def]
    answer = answer_coverage_question(
        corpus_engine, question, resolve(index, question), default_frameworks=("nist_800_53",)
    )
    assert isinstance(answer, DiffAnswer), answer
    assert answer.before != answer.after
    d = answer.diff
    assert d.added or d.removed or d.changed or d.unchanged


def test_a_diff_between_versions_not_loaded_says_so(corpus_engine: Engine, index) -> None:  # type: ignore[no-untyped-def]
    q = "T1048 3.0 vs 4.0"
    answer = answer_coverage_question(
        corpus_engine, q, resolve(index, q), default_frameworks=("nist_800_53",)
    )
    assert isinstance(answer, Refusal) and "3.0 vs 4.0" in answer.message


def test_gap_exports_have_a_row_and_a_layer_entry_per_technique(corpus_engine: Engine) -> None:
    with reads(corpus_engine) as data:
        report = service.gap_report(
            data,
            Subject("cve", "CVE-2023-34362", "MOVEit"),
            service.cve_techniques(data, "CVE-2023-34362"),
            inv(Control("nist_800_53", "SI-04")),
        )
    name, data = gap_csv(report)
    lines = data.decode("utf-8-sig").splitlines()
    assert name.endswith(".csv") and len(lines) == 1 + len(report.coverage.techniques)
    _, layer_bytes = gap_layer(report)
    layer = json.loads(layer_bytes)
    assert {t["techniqueID"] for t in layer["techniques"]} == set(report.coverage.techniques)
    assert layer["versions"]["attack"] == "16"
    colours = {t["techniqueID"]: t["color"] for t in layer["techniques"]}
    assert {colours[t] for t in report.coverage.covered} <= {"#66bb6a"}


def test_gap_blocks_stay_within_slack_limits(corpus_engine: Engine, index) -> None:  # type: ignore[no-untyped-def]
    team = f"T{uuid.uuid4().hex[:8]}"
    held = Inventory(team, WORKSPACE, (Control("nist_800_53", "SI-04"),), 1, None, None)
    report = gap_report_for(corpus_engine, "defense evasion", resolve(index, "defense evasion"), held)
    assert isinstance(report, GapReport) and len(report.coverage.techniques) > 100
    blocks = as_blocks(gap_report_lines(report, PLAIN), header="Gaps")
    assert len(blocks) <= 50
    for b in blocks:
        d = b.to_dict()
        assert len(d.get("text", {}).get("text", "")) <= 3000


def test_the_in_memory_mapping_index_returns_what_the_database_does(corpus_engine: Engine) -> None:
    """The coverage fast path against the plain read, for random technique sets and releases."""
    rng = random.Random(11)
    with session_scope(corpus_engine) as s:
        snap = coverage_snapshot(s)
        releases = all_releases(s)
        assert snap.all_releases() == releases
        techniques = sorted({t for (t,) in s.execute(select(Mapping.attack_id).distinct()) if t})
        for _ in range(25):
            pks = [r.pk for r in rng.sample(releases, rng.randint(1, 6))]
            ids = rng.sample(techniques, rng.randint(1, 120))
            assert snap.controls_mapping(pks, ids) == controls_mapping(s, pks, ids)
            assert snap.technique_names(ids) == technique_names(s, ids)
        for r in rng.sample(releases, 3):
            assert snap.technique_counts(r.pk) == technique_counts(s, r.pk)
            counted = sorted(technique_counts(s, r.pk))
            for key in rng.sample(counted, min(5, len(counted))):
                assert snap.techniques_of_control(r.pk, *key) == techniques_of_control(s, r.pk, *key)
        keys = [(c.framework, c.capability_id) for c in controls_mapping(s, pks, ids)][:50]
        assert snap.control_names(keys) == control_names(s, keys)
        assert set(snap.technique_names(techniques)) == set(technique_names(s, techniques))
