"""The detection answer ("how do I detect T1048"): ATT&CK's strategies and analytics as the
bundle has them, and the detect-category capabilities as the mapping files have them, in Slack
blocks, the terminal and ``ask --json``."""

from __future__ import annotations

import csv
import io
import json
from collections import defaultdict
from pathlib import Path
from typing import Any

import orjson
import pytest
from rich.console import Console
from sqlalchemy import Engine, select
from sqlalchemy.orm import Session

from bot import actions
from bot.answer import Answerer
from bot.cli.ask_cmd import answer_json
from bot.config import Settings
from bot.render.limits import violations
from bot.render.state import decode_state
from bot.render.terminal import print_view
from store.models import DetectionLink
from store.threat_views import DetectionView
from tests.slack_harness import element


@pytest.fixture(scope="module")
def answerer(corpus_engine: Engine) -> Answerer:
    a = Answerer(corpus_engine, Settings())
    a.refresh_if_stale()
    return a


def _ext(obj: dict[str, Any]) -> str | None:
    for ref in obj.get("external_references") or ():
        if ref.get("source_name", "").startswith("mitre") and ref.get("external_id"):
            return str(ref["external_id"])
    return None


@pytest.fixture(scope="module")
def enterprise(corpus_dir: Path) -> list[dict[str, Any]]:
    return list(orjson.loads((corpus_dir / "attack" / "enterprise-attack-18.1.json").read_bytes())["objects"])


def _bundle_analytics(objects: list[dict[str, Any]], tid: str) -> dict[str, list[dict[str, Any]]]:
    """Strategy ID -> its analytics (as bundle objects) for the strategies that detect ``tid``."""
    by_id = {o["id"]: o for o in objects}
    tech = next(
        o for o in objects if o["type"] == "attack-pattern" and _ext(o) == tid and not o.get("revoked")
    )
    out = {}
    for r in objects:
        if (
            r["type"] == "relationship"
            and r["relationship_type"] == "detects"
            and r["target_ref"] == tech["id"]
        ):
            s = by_id[r["source_ref"]]
            out[str(_ext(s))] = [by_id[a] for a in s.get("x_mitre_analytic_refs", ())]
    return out


def _newest_detect_files(corpus_dir: Path) -> dict[str, list[dict[str, Any]]]:
    """Per framework, the mapping objects of its newest enterprise file (by ATT&CK version, then
    the framework's date), read straight from the files."""
    best: dict[str, tuple[tuple[float, str], list[dict[str, Any]]]] = {}
    for path in (corpus_dir / "mappings").rglob("*enterprise*.json"):
        doc = orjson.loads(path.read_bytes())
        meta = doc.get("metadata") or {}
        fw = meta.get("mapping_framework")
        if fw in (None, "kev") or meta.get("technology_domain") != "enterprise":
            continue
        version = meta["mapping_framework_version"]
        date = version[6:] + version[:5] if len(version) == 10 and version[2] == "/" else version
        key = (float(meta["attack_version"]), date)
        if fw not in best or key > best[fw][0]:
            best[fw] = (key, doc["mapping_objects"])
    return {fw: objs for fw, (_, objs) in best.items()}


@pytest.mark.parametrize(
    ("question", "technique"),
    [
        ("how do I detect T1048", "T1048"),
        ("detections for kerberoasting", "T1558.003"),
        ("analytics for T1003.001", "T1003.001"),
        ("detect T1048", "T1048"),
        ("How can we detect LSASS memory dumping?", "T1003.001"),
    ],
)
def test_a_detection_question_is_answered_with_the_detection_answer(
    answerer: Answerer, question: str, technique: str
) -> None:
    reading = answerer.read(question)
    assert reading.ok and isinstance(reading.view, DetectionView), question
    assert reading.view.header.id == technique
    assert reading.technique_ids == (technique,)


def test_a_technique_question_is_still_the_technique_answer(answerer: Answerer) -> None:
    assert answerer.read("T1048").view.kind == "technique"  # type: ignore[union-attr]


def test_strategies_and_analytics_are_the_bundles(
    answerer: Answerer, enterprise: list[dict[str, Any]]
) -> None:
    for tid in ("T1048", "T1003.001", "T1558.003", "T1059.001"):
        view = answerer.read(f"detect {tid}").view
        assert isinstance(view, DetectionView)
        want = _bundle_analytics(enterprise, tid)
        assert [s.attack_id for s in view.strategies] == sorted(want)
        for s in view.strategies:
            analytics = want[s.attack_id]
            assert [a.attack_id for a in s.analytics] == [_ext(a) for a in analytics]
            for shown, src in zip(s.analytics, analytics, strict=True):
                assert shown.description == src.get("description")
                assert list(shown.platforms) == src.get("x_mitre_platforms", [])
                assert [(ls.name, ls.channel) for ls in shown.log_sources] == [
                    (ls.get("name"), ls.get("channel")) for ls in src.get("x_mitre_log_source_references", ())
                ]
                assert [t.field for t in shown.tunable] == [
                    m.get("field") for m in src.get("x_mitre_mutable_elements", ())
                ]


def test_detect_capabilities_are_the_newest_files_detect_mappings(
    answerer: Answerer, corpus_dir: Path
) -> None:
    files = _newest_detect_files(corpus_dir)
    for tid in ("T1048", "T1003.001", "T1566", "T1078"):
        view = answerer.read(f"how do I detect {tid}").view
        assert isinstance(view, DetectionView)
        want: dict[str, set[str]] = defaultdict(set)
        licenses: dict[tuple[str, str], str] = {}
        for fw, objects in files.items():
            for m in objects:
                if m.get("attack_object_id") == tid and (m.get("score_category") or "") == "detect":
                    want[fw].add(m["capability_id"])
        got = {s.framework: {ln.capability_id for ln in s.lines} for s in view.sections}
        assert got == dict(want), tid
        for s in view.sections:
            assert all(ln.score_category == "detect" for ln in s.lines)
            ranks = [ln.score_value for ln in s.lines]
            assert ranks == sorted(
                ranks, key=lambda v: ["significant", "partial", "minimal"].index(v or "minimal")
            )
            licenses.update(
                {(s.framework, ln.capability_id): ln.license_requirements or "" for ln in s.lines}
            )
        if tid == "T1566":  # M365 names the licenses its capabilities need
            assert any(v for (fw, _), v in licenses.items() if fw == "m365")


def test_naming_a_framework_narrows_the_capabilities_to_it(answerer: Answerer) -> None:
    view = answerer.read("how do I detect T1048 in azure").view
    assert isinstance(view, DetectionView)
    assert [s.framework for s in view.sections] == ["azure"] and view.strategies


def test_every_technique_answer_has_a_detections_button_that_opens_it(answerer: Answerer) -> None:
    answer = answerer.answer("T1048")
    button = element(answer.payload.blocks, actions.SWITCH)
    assert button["text"]["text"] == "Detections"
    state = decode_state(button["value"])
    assert (state.request.kind, state.request.techniques) == ("detection", ("T1048",))
    opened = answerer.answer_from_state(button["value"])
    assert opened.ok and isinstance(opened.view, DetectionView)
    back = element(opened.payload.blocks, actions.SWITCH)
    assert back["text"]["text"] == "Controls"
    assert answerer.answer_from_state(back["value"]).view.kind == "technique"  # type: ignore[union-attr]
    card = answerer.card("T1048")
    assert element(card.payload.blocks, actions.SWITCH)["text"]["text"] == "Detections"


def test_a_capabilitys_details_open_from_the_detection_answer_and_go_back(answerer: Answerer) -> None:
    answer = answerer.answer("how do I detect T1003.001")
    menu = element(answer.payload.blocks, actions.EXPAND)
    option = menu["options"][0]
    detail = answerer.answer_from_state(option["value"])
    assert detail.ok and "→ T1003.001" in detail.payload.blocks[0]["text"]["text"]
    back = element(detail.payload.blocks, actions.COLLAPSE)
    assert answerer.answer_from_state(back["value"]).payload.text == answer.payload.text


def test_sub_techniques_detections_are_offered_from_the_parent(answerer: Answerer) -> None:
    answer = answerer.answer("detect T1048")
    menus = [
        b
        for blk in answer.payload.blocks
        for b in blk.get("elements", ())
        if b.get("type") == "static_select"
    ]
    subs = next(m for m in menus if m["placeholder"]["text"] == "Sub-technique…")
    labels = [o["text"]["text"] for o in subs["options"]]
    assert [label.split()[0] for label in labels] == ["T1048.001", "T1048.002", "T1048.003"]
    opened = answerer.answer_from_state(subs["options"][2]["value"])
    assert isinstance(opened.view, DetectionView) and opened.view.header.id == "T1048.003"


def test_a_revoked_technique_points_to_its_replacements_detections(answerer: Answerer) -> None:
    view = answerer.read("detect T1085").view  # revoked: now T1218.011
    assert isinstance(view, DetectionView) and view.header.revoked and view.strategies == ()
    assert view.header.replaced_by is not None and view.header.replaced_by.id == "T1218.011"
    answer = answerer.answer("detect T1085")
    assert answer.ok and "T1085 is revoked" in json.dumps(answer.payload.blocks)
    replacement = element(answer.payload.blocks, actions.SWITCH)
    assert decode_state(replacement["value"]).request.techniques == ("T1218.011",)


def test_a_technique_ics_or_mobile_gets_its_own_domains_strategies(answerer: Answerer) -> None:
    ics = answerer.read("detect T0800").view
    assert isinstance(ics, DetectionView) and ics.header.domain == "ics" and ics.strategies
    assert ics.attack_release and ics.sections == ()  # no framework maps ICS in the detect category
    answer = answerer.answer("detect T0800")
    assert "detect category" in json.dumps(answer.payload.blocks)


def test_terminal_shows_analytics_log_sources_tunables_and_licenses(answerer: Answerer) -> None:
    view = answerer.read("how do I detect T1566").view
    out = io.StringIO()
    print_view(view, Console(file=out, width=200, highlight=False))
    text = out.getvalue()
    assert "Detect T1566 Phishing" in text
    analytic = view.strategies[0].analytics[0]  # type: ignore[union-attr]
    assert analytic.attack_id in text and analytic.log_sources[0].name in text  # type: ignore[operator]
    assert "Tune:" in text and "License:" in text and "capabilities detect it" in text


def test_ask_json_carries_the_detection_view(answerer: Answerer) -> None:
    body = orjson.loads(answer_json(answerer.read("detect T1048")))
    assert body["kind"] == "detection" and body["ok"] is True
    assert body["view"]["header"]["id"] == "T1048"
    assert body["view"]["strategies"][0]["analytics"][0]["log_sources"]
    assert {s["framework"] for s in body["view"]["sections"]} >= {"m365", "azure"}


def test_the_detection_csv_export_holds_the_detect_mappings(answerer: Answerer) -> None:
    answer = answerer.answer("detect T1048")
    csv_button = element(answer.payload.blocks, actions.EXPORT_CSV)
    name, data = answerer.export(csv_button["value"], "csv")
    view = answer.view
    assert isinstance(view, DetectionView)
    head, *rows = list(csv.reader(io.StringIO(data.decode("utf-8-sig"))))
    assert name == "countermap-T1048-detect.csv"
    category = head.index("score_category")
    assert len(rows) == sum(len(s.lines) for s in view.sections)
    assert {r[category] for r in rows} == {"detect"}


@pytest.mark.slow
def test_every_detection_answer_of_the_corpus_fits_slack(answerer: Answerer, backend: str) -> None:
    """Every technique with a detection strategy, every page, validated as Slack would."""
    with Session(answerer.engine) as s:
        techniques = sorted(set(s.scalars(select(DetectionLink.technique_attack_id))))
    assert len(techniques) > 850
    problems: list[str] = []
    pages = 0
    for tid in techniques[:: 1 if backend == "sqlite" else 5]:
        value = f'cm1:{{"k":"detection","t":["{tid}"]}}'
        first = answerer.answer_from_state(value)
        assert first.ok and isinstance(first.view, DetectionView), tid
        for page in range(1, first.pages + 1):
            out = first if page == 1 else answerer.answer_from_state(value[:-1] + f',"p":{page}}}')
            pages += 1
            problems += [f"{tid} p{page}: {p}" for p in violations(out.payload.to_dict(), reparse=True)]
            assert "does not fit" not in out.payload.text, tid
    assert problems == []
    assert pages >= len(techniques[:: 1 if backend == "sqlite" else 5])
