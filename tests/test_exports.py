"""Exports on the real corpus (issue 15 item 10): every export of every view kind that offers
one is non-empty, and every Navigator layer is a valid layer 4.5 (tests/layer_format.py) in the
ATT&CK version of the releases it shows, with colours and a legend that say something."""

from __future__ import annotations

import csv
import io
from collections.abc import Iterator
from typing import Any

import orjson
import pytest
from sqlalchemy import Engine, select

from bot.answer import Answer, Answerer, Reading
from bot.config import Settings
from bot.render.export import exportable, to_csv, to_navigator
from store.db import session_scope
from store.models import Mapping, Release
from store.views import CompareView, CveView, TechniqueView
from tests.layer_format import layer_problems


@pytest.fixture(scope="module")
def answerer(corpus_engine: Engine) -> Answerer:
    return Answerer(corpus_engine, Settings())


def _sample(engine: Engine) -> Iterator[tuple[str, tuple[str, ...]]]:
    """(question, frameworks) of every kind that offers exports, drawn from the rows: every
    mapped technique of every domain (each in a framework that maps it), twenty controls of
    each framework (CVEs for KEV), pairs, compares."""
    with session_scope(engine) as s:
        rows = s.execute(
            select(Mapping.attack_id, Mapping.framework, Mapping.capability_id, Release.domain)
            .join(Release, Release.id == Mapping.release_id)
            .where(Mapping.attack_id.is_not(None), Mapping.capability_id.is_not(None))
            .distinct()
        ).all()
    by_domain: dict[str, dict[str, set[str]]] = {}
    caps: dict[str, set[str]] = {}
    pairs: list[tuple[str, str]] = []
    for tid, fw, cid, domain in rows:
        by_domain.setdefault(domain, {}).setdefault(tid, set()).add(fw)
        caps.setdefault(fw, set()).add(cid)
        if fw == "nist_800_53" and domain == "enterprise":
            pairs.append((tid, cid))
    enterprise = sorted(by_domain["enterprise"])
    picked = [(d, t) for d in ("mobile", "ics") for t in sorted(by_domain.get(d, ()))]
    picked += [("enterprise", t) for t in enterprise]
    for domain, tid in picked:
        yield tid, (min(by_domain[domain][tid]),)
    for fw, ids in sorted(caps.items()):
        ordered = sorted(ids)
        for cid in ordered[:: max(1, len(ordered) // 20)][:20]:
            yield (f"CVE {cid}" if fw == "kev" else cid), ()
    for tid, cid in sorted(pairs)[::500][:12]:
        yield f"{tid} {cid}", ()
    for tid in enterprise[::60]:
        yield f"compare {tid}", ()


def _exports(ans: Answer | Reading) -> tuple[list[list[str]], dict[str, Any]]:
    _, csv_bytes = to_csv(ans.view)
    table = list(csv.reader(io.StringIO(csv_bytes.decode("utf-8-sig"))))
    _, layer_bytes = to_navigator(ans.view)
    return table, orjson.loads(layer_bytes)


def test_every_export_of_every_view_kind_is_non_empty_and_every_layer_validates(
    answerer: Answerer, corpus_engine: Engine
) -> None:
    kinds: set[str] = set()
    checked = 0
    for question, frameworks in _sample(corpus_engine):
        ans = answerer.read(question, frameworks=frameworks)
        if not ans.ok or ans.view.kind in ("framework", "group", "multi"):
            continue  # those offer no export (framework/group), or are several answers
        if not exportable(ans.view):
            continue  # shows no mapping (mapped in an older release only): no export offered
        kinds.add(ans.view.kind)
        table, layer = _exports(ans)
        assert len(table) > 1, f"{question}: CSV has its header only"
        assert layer_problems(layer) == [], (question, layer_problems(layer))
        versions = {r.attack_version.split(".")[0] for r in ans.view.provenance}  # type: ignore[union-attr]
        assert layer["versions"]["attack"] in versions, question
        checked += 1
    assert kinds == {"technique", "capability", "pair", "cve", "compare"}
    assert checked > 900


def test_a_layer_of_an_old_release_says_its_attack_version(answerer: Answerer) -> None:
    """A rev4 @ ATT&CK 8.2 layer said ``attack: 18`` and lost IDs revoked since when opened."""
    ans = answerer.answer("AC-02 rev4 attack 8.2")
    _, layer = _exports(ans)
    assert layer["versions"]["attack"] == "8"
    ids = {t["techniqueID"] for t in layer["techniques"]}
    assert {"T1053.001", "T1574.002"} <= ids  # revoked since 8.2: still there in ATT&CK 8


def test_a_technique_layer_includes_its_sub_techniques(answerer: Answerer) -> None:
    view = answerer.answer("T1048").view
    assert isinstance(view, TechniqueView)
    _, layer = _exports(answerer.answer("T1048"))
    ids = {t["techniqueID"] for t in layer["techniques"]}
    assert ids == {"T1048", *(s.id for s in view.subtechniques if s.count)}
    assert len(ids) > 1


def test_an_unscored_layer_has_a_gradient_and_a_legend_worth_reading(answerer: Answerer) -> None:
    _, layer = _exports(answerer.answer("T1048 nist"))
    labels = [i["label"] for i in layer["legendItems"]]
    assert labels[0] == "1 mapping" and labels[-1].endswith(" mappings") and len(labels) == 2
    scores = {t["score"] for t in layer["techniques"]}
    assert len(scores) > 1  # not all one colour


def test_a_scored_layer_colours_each_technique_by_its_best_score(answerer: Answerer) -> None:
    _, layer = _exports(answerer.answer("DEF-ATH-E5"))
    colours = {t["score"]: t["color"] for t in layer["techniques"]}
    legend = {i["label"]: i["color"] for i in layer["legendItems"]}
    names = {1: "minimal", 2: "partial", 3: "significant"}
    assert colours and all(legend[names[score]] == colour for score, colour in colours.items())


@pytest.mark.parametrize(("question", "domain"), [("T1660", "mobile-attack"), ("T0800", "ics-attack")])
def test_mobile_and_ics_layers_are_not_empty(answerer: Answerer, question: str, domain: str) -> None:
    _, layer = _exports(answerer.answer(question))
    assert layer["domain"] == domain and layer["techniques"]
    assert layer_problems(layer) == []


def test_cve_and_compare_csvs_have_rows(answerer: Answerer) -> None:
    cve = answerer.answer("CVE-2023-34362")
    assert isinstance(cve.view, CveView)
    table, _ = _exports(cve)
    header, *rows = table
    kev = [r for r in rows if r[header.index("framework")] == "kev"]
    assert {r[header.index("attack_id")] for r in kev} == {t.technique.id for t in cve.view.techniques}
    assert any(r[header.index("framework")] == "nist_800_53" for r in rows)
    compare = answerer.answer("compare T1048")
    assert isinstance(compare.view, CompareView)
    table, _ = _exports(compare)
    assert len(table) - 1 == sum(len(c) for _, c in compare.view.best) > 0


def test_an_answer_that_shows_no_mapping_offers_no_export(answerer: Answerer) -> None:
    """An export button must never give a file with headers only."""
    from bot import actions

    view = answerer.read("T1012").view  # mapped, but not by the default frameworks
    assert isinstance(view, TechniqueView) and not any(s.total for s in view.sections)
    shown = json_of(answerer.answer("T1012").payload.blocks)
    assert actions.EXPORT_CSV not in shown and actions.EXPORT_NAVIGATOR not in shown
    assert actions.EXPORT_CSV in json_of(answerer.answer("T1048").payload.blocks)


def json_of(blocks: object) -> str:
    return orjson.dumps(blocks).decode()
