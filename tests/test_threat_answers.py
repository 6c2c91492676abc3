"""Actor, software and campaign answers (issue 13 items 2-5), checked against the bundle and the
mapping files themselves: the answer's techniques are the bundle's ``uses`` targets, its
"covers N of M" counts are recounted from the mapping rows, and every button does what it says."""

from __future__ import annotations

import csv
import io
import re
from collections import defaultdict
from pathlib import Path
from typing import Any

import orjson
import pytest
from sqlalchemy import Engine

from bot.answer import Answer, Answerer
from bot.cli.ask_cmd import answer_json
from bot.config import Settings
from bot.render.limits import violations
from bot.render.state import State, decode_state
from bot.render.terminal import renderable
from bot.render.threat import render_threat
from store.ingest import ingest_paths
from store.threat_views import ThreatView
from store.views import TechniqueView, ViewRequest, category_rank, score_rank
from tests.layer_format import layer_problems
from tests.store_fixtures import mapping_document, mapping_row, stix_bundle, write_json

_THREATS = ("intrusion-set", "malware", "tool", "campaign")
_ID = re.compile(r"`(T\d{4}(?:\.\d{3})?)`")


@pytest.fixture(scope="module")
def answerer(corpus_engine: Engine) -> Answerer:
    return Answerer(corpus_engine, Settings())


@pytest.fixture(scope="module")
def enterprise(corpus_dir: Path) -> list[dict[str, Any]]:
    return list(orjson.loads((corpus_dir / "attack" / "enterprise-attack-18.1.json").read_bytes())["objects"])


def _ext(obj: dict[str, Any]) -> str | None:
    for ref in obj.get("external_references") or ():
        if ref.get("source_name", "").startswith("mitre") and ref.get("external_id"):
            return str(ref["external_id"])
    return None


def bundle_uses(objects: list[dict[str, Any]]) -> dict[str, set[str]]:
    """ATT&CK ID of each threat -> the technique IDs of its current ``uses`` links, read from the
    bundle (a revoked target counted as its replacement, as the answer shows it)."""
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
        if not (src and dst and dst["type"] == "attack-pattern" and src["type"] in _THREATS):
            continue
        dst = by_id.get(revoked_by.get(dst["id"], ""), dst)
        out[str(_ext(src))].add(str(_ext(dst)))
    return out


def pages(answerer: Answerer, first: Answer) -> list[Answer]:
    """Every page of an answer, through the Next buttons as a user clicks them."""
    out = [first]
    while True:
        nxt = [
            el["value"]
            for b in out[-1].payload.blocks
            if b["type"] == "actions"
            for el in b["elements"]
            if el.get("text", {}).get("text") == "Next ▶"
        ]
        if not nxt:
            return out
        out.append(answerer.answer_from_state(nxt[0]))


def technique_ids_shown(answers: list[Answer]) -> set[str]:
    """Technique IDs in the sections after the "Techniques" heading, over all pages."""
    found: set[str] = set()
    listing = False
    for a in answers:
        for b in a.payload.blocks:
            if b["type"] != "section" or "text" not in b:
                continue
            text = b["text"]["text"]
            listing = listing or text.startswith("*Techniques*")
            if listing:
                found |= set(_ID.findall(text))
    return found


def button_values(answer: Answer, label: str) -> list[str]:
    out = []
    for b in answer.payload.blocks:
        elements = list(b.get("elements", [])) + ([b["accessory"]] if "accessory" in b else [])
        for el in elements:
            if isinstance(el, dict) and el.get("type") == "button" and label in el["text"]["text"]:
                out.append(el["value"])
    return out


# --------------------------------------------------------------------------- the answer


def test_apt29_by_any_of_its_names_is_the_apt29_answer(answerer: Answerer) -> None:
    for question in ("APT29", "Cozy Bear", "NOBELIUM", "Midnight Blizzard", "G0016", "what covers APT29?"):
        reading = answerer.read(question)
        assert reading.ok and isinstance(reading.view, ThreatView), question
        assert reading.view.threat.attack_id == "G0016", question


def test_a_group_named_like_a_tactic_id_is_the_group(answerer: Answerer) -> None:
    reading = answerer.read("TA2541")
    assert isinstance(reading.view, ThreatView) and reading.view.threat.attack_id == "G1018"
    assert not answerer.read("TA9999").ok  # an unloaded tactic ID is still no name


def test_the_answer_says_what_the_threat_is(answerer: Answerer) -> None:
    view = answerer.read("APT29").view
    assert isinstance(view, ThreatView)
    assert (
        view.summary.startswith("APT29 is") and "(Citation" not in view.summary and "](" not in view.summary
    )
    assert "\n" not in view.summary  # one paragraph
    answer = answerer.answer("APT29")
    text = "\n".join(str(b) for b in answer.payload.blocks[:4])
    assert "Cozy Bear" in text and "https://attack.mitre.org/groups/G0016" in text


def test_an_actors_techniques_in_every_page_equal_the_bundles_uses_targets(
    answerer: Answerer, enterprise: list[dict[str, Any]]
) -> None:
    want = bundle_uses(enterprise)
    for question, attack_id in (
        ("APT29", "G0016"),
        ("Mimikatz", "S0002"),
        ("C0024", "C0024"),
        ("FIN7", "G0046"),
    ):
        shown = technique_ids_shown(pages(answerer, answerer.answer(question)))
        assert shown == want[attack_id], question


def test_every_threats_answer_lists_exactly_its_uses_targets(
    answerer: Answerer, enterprise: list[dict[str, Any]]
) -> None:
    want = bundle_uses(enterprise)
    ids = [_ext(o) for o in enterprise if o["type"] in _THREATS and not o.get("revoked")]
    for attack_id in ids:
        view = answerer.read(str(attack_id)).view
        assert isinstance(view, ThreatView), attack_id
        if view.domain == "enterprise" and view.threat.attack_id == attack_id:
            assert set(view.technique_ids) == want.get(str(attack_id), set()), attack_id


def _mapping_file(corpus_dir: Path, framework: str, version: str, attack: str, domain: str) -> dict[str, Any]:
    for p in (corpus_dir / "mappings").rglob("*.json"):
        doc = orjson.loads(p.read_bytes())
        m = doc.get("metadata") or {}
        if (
            m.get("mapping_framework") == framework
            and m.get("mapping_framework_version") == version
            and m.get("attack_version") == attack
            and m.get("technology_domain") == domain
        ):
            return dict(doc)
    raise AssertionError(f"no mapping file for {framework} {version} {attack} {domain}")


def test_covers_n_of_m_is_recounted_from_the_mapping_rows_and_ranked_as_cves_are(
    answerer: Answerer, corpus_dir: Path
) -> None:
    view = answerer.read("APT29", frameworks=("nist_800_53", "m365")).view
    assert isinstance(view, ThreatView) and [fc.framework for fc in view.coverage] == ["nist_800_53", "m365"]
    techniques = set(view.technique_ids)
    blocks = str(answerer.answer("APT29", frameworks=("nist_800_53", "m365")).payload.blocks)
    for fc in view.coverage:
        r = fc.release
        doc = _mapping_file(corpus_dir, r.framework, r.framework_version, r.attack_version, r.domain)
        recount: dict[str, set[str]] = defaultdict(set)
        best: dict[str, tuple[int, int]] = {}
        for o in doc["mapping_objects"]:
            tid = (o.get("attack_object_id") or "").upper()
            cid = o.get("capability_id")
            if o.get("status") == "non_mappable" or not cid or tid not in techniques:
                continue
            recount[cid].add(tid)
            rank = (-score_rank(o.get("score_value")), category_rank(o.get("score_category")))
            best[cid] = min(best.get(cid, rank), rank)
        assert {c.capability_id: c.covered for c in fc.controls} == {k: len(v) for k, v in recount.items()}
        assert all(c.of == len(techniques) for c in fc.controls)
        expected = sorted(recount, key=lambda cid: (-len(recount[cid]), best[cid], cid))
        assert [c.capability_id for c in fc.controls] == expected
        assert set(fc.unmapped) == techniques - {t for v in recount.values() for t in v}
        top = fc.controls[0]
        assert f"`{top.capability_id}` " in blocks and f"covers {top.covered} of {len(techniques)}" in blocks


def test_a_category_filter_counts_only_that_category_where_the_framework_has_categories(
    answerer: Answerer, corpus_dir: Path
) -> None:
    view = answerer.read("APT29 detect", frameworks=("nist_800_53", "m365")).view
    assert isinstance(view, ThreatView)
    nist, m365 = view.coverage
    assert nist.not_applied == ("category",) and nist.controls
    assert m365.filtered_by == ("detect",) and not m365.not_applied
    r = m365.release
    doc = _mapping_file(corpus_dir, r.framework, r.framework_version, r.attack_version, r.domain)
    recount: dict[str, set[str]] = defaultdict(set)
    for o in doc["mapping_objects"]:
        tid = (o.get("attack_object_id") or "").upper()
        complete = o.get("status") != "non_mappable" and o.get("capability_id")
        if complete and tid in view.technique_ids and o.get("score_category") == "detect":
            recount[o["capability_id"]].add(tid)
    assert {c.capability_id: c.covered for c in m365.controls} == {k: len(v) for k, v in recount.items()}
    assert "detect only" in str(
        answerer.answer("APT29 detect", frameworks=("nist_800_53", "m365")).payload.blocks
    )


def test_a_framework_named_in_the_question_is_the_one_ranked(answerer: Answerer) -> None:
    view = answerer.read("APT29 in aws").view
    assert isinstance(view, ThreatView) and [fc.framework for fc in view.coverage] == ["aws"]


def test_a_revoked_uses_target_is_shown_through_its_replacement_with_a_note(
    engine: Engine, tmp_path: Path
) -> None:
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
            "description": "Group X is a test group. (Citation: Somebody 2024)\n\nSecond paragraph.",
            "external_references": [{"source_name": "mitre-attack", "external_id": "G9999"}],
        },
        {
            "type": "relationship",
            "id": "relationship--u",
            "relationship_type": "uses",
            "source_ref": "intrusion-set--x",
            "target_ref": "attack-pattern--old",
            "description": "Group X did it. (Citation: Somebody 2024)",
        },
    ]
    write_json(tmp_path / "enterprise-attack-18.1.json", doc)
    write_json(tmp_path / "nist.json", mapping_document(rows=[mapping_row("SC-07", "T1048")]))
    ingest_paths(engine, [tmp_path])
    answerer = Answerer(engine, Settings(default_frameworks=("nist_800_53",)))
    reading = answerer.read("G9999")
    view = reading.view
    assert isinstance(view, ThreatView) and view.summary == "Group X is a test group."
    (proc,) = view.procedures
    assert (proc.technique_id, proc.revoked_id, proc.text) == ("T1048", "T1020", "Group X did it.")
    answer = answerer.answer("G9999")
    text = str(answer.payload.blocks)
    assert "`T1048`" in text and "T1020, revoked" in text
    assert "T1020, revoked" in str(renderable(view).renderables)  # type: ignore[attr-defined]
    (fc,) = view.coverage
    assert [(c.capability_id, c.covered, c.of) for c in fc.controls] == [("SC-07", 1, 1)]


def test_an_actor_no_framework_maps_gets_a_clear_answer_not_an_empty_table(
    engine: Engine, tmp_path: Path
) -> None:
    doc = stix_bundle()
    doc["objects"] += [
        {
            "type": "intrusion-set",
            "id": "intrusion-set--y",
            "name": "Group Y",
            "external_references": [{"source_name": "mitre-attack", "external_id": "G9998"}],
        },
        {
            "type": "relationship",
            "id": "relationship--y",
            "relationship_type": "uses",
            "source_ref": "intrusion-set--y",
            "target_ref": "attack-pattern--t1048",
            "description": "Group Y exfiltrates.",
        },
    ]
    write_json(tmp_path / "enterprise-attack-18.1.json", doc)
    write_json(tmp_path / "nist.json", mapping_document(rows=[mapping_row("AC-2", "T1078")]))
    ingest_paths(engine, [tmp_path])
    answerer = Answerer(engine, Settings(default_frameworks=("nist_800_53",)))
    answer = answerer.answer("Group Y")
    assert answer.ok and isinstance(answer.view, ThreatView)
    text = str(answer.payload.blocks)
    assert "No framework maps these techniques" in text and "`T1048`" in text
    assert "covers" not in text
    assert "No framework maps these techniques" in str(renderable(answer.view).renderables)  # type: ignore[attr-defined]


def test_a_mobile_threat_asked_with_enterprise_frameworks_shows_those_that_map_mobile(
    answerer: Answerer,
) -> None:
    answer = answerer.answer("Desert Scorpion", frameworks=("nist_800_53", "m365"))
    view = answer.view
    assert isinstance(view, ThreatView) and view.domain == "mobile" and view.technique_ids
    assert view.missing_frameworks == ("nist_800_53", "m365")
    assert view.coverage and all(
        fc.release.domain == "mobile" and fc.framework != "kev" for fc in view.coverage
    )
    text = str(answer.payload.blocks)
    assert "No mobile release of NIST 800-53 or Microsoft 365" in text and "covers" in text


# --------------------------------------------------------------------------- mimikatz


def test_mimikatz_is_the_software_answer_offering_the_technique_it_is_an_alias_of(answerer: Answerer) -> None:
    answer = answerer.answer("mimikatz")
    assert isinstance(answer.view, ThreatView) and answer.view.threat.attack_id == "S0002"
    (value,) = button_values(answer, "Show T1003.001")
    technique = answerer.answer_from_state(value)
    assert isinstance(technique.view, TechniqueView) and technique.view.header.id == "T1003.001"
    reading = answerer.read("mimikatz")
    assert [t.id for t in reading.view.also_techniques] == ["T1003.001"]  # type: ignore[union-attr]


def test_a_technique_asked_by_its_own_name_stays_the_technique(answerer: Answerer) -> None:
    reading = answerer.read("LSASS Memory")
    assert isinstance(reading.view, TechniqueView) and reading.view.header.id == "T1003.001"


# --------------------------------------------------------------------------- buttons


def test_procedure_menu_opens_the_procedure_text_and_back_returns(answerer: Answerer) -> None:
    answer = answerer.answer("APT29")
    menus = [
        b["accessory"] for b in answer.payload.blocks if b.get("accessory", {}).get("type") == "static_select"
    ]
    assert menus
    option = next(o for m in menus for o in m["options"] if o["text"]["text"].startswith("T1059.001"))
    detail = answerer.answer_from_state(option["value"])
    text = str(detail.payload.blocks)
    assert "PowerShell" in text and "APT29 has used" in text and "(Citation" not in text
    (back,) = button_values(detail, "Back")
    assert answerer.answer_from_state(back).payload.blocks == answer.payload.blocks


def test_show_all_lists_every_control_of_the_framework_over_its_pages(answerer: Answerer) -> None:
    answer = answerer.answer("APT29", frameworks=("nist_800_53",))
    view = answer.view
    assert isinstance(view, ThreatView)
    (value,) = button_values(answer, "Show all")
    shown: list[str] = []
    for page in pages(answerer, answerer.answer_from_state(value)):
        for b in page.payload.blocks:
            if b["type"] == "section" and "covers" in b["text"]["text"]:
                shown += re.findall(r"^`([^`]+)`", b["text"]["text"], flags=re.M)
    assert shown == [c.capability_id for c in view.coverage[0].controls]


def test_navigator_layer_scores_each_technique_by_its_controls_and_validates(answerer: Answerer) -> None:
    answer = answerer.answer("APT29", frameworks=("nist_800_53",))
    view = answer.view
    assert isinstance(view, ThreatView)
    (value,) = button_values(answer, "Navigator layer")
    name, body = answerer.export(value, "navigator")
    layer = orjson.loads(body)
    assert name.endswith(".layer.json") and layer_problems(layer) == []
    scores = {t["techniqueID"]: t["score"] for t in layer["techniques"]}
    assert set(scores) == set(view.technique_ids)
    recount = {tid: sum(tid in c.techniques for c in view.coverage[0].controls) for tid in view.technique_ids}
    assert scores == recount
    assert all(scores[t] == 0 for t in view.coverage[0].unmapped)


def test_csv_has_a_row_per_technique_and_covering_control(answerer: Answerer) -> None:
    answer = answerer.answer("APT29", frameworks=("nist_800_53",))
    view = answer.view
    assert isinstance(view, ThreatView)
    (value,) = button_values(answer, "CSV")
    _, body = answerer.export(value, "csv")
    rows = list(csv.DictReader(io.StringIO(body.decode("utf-8-sig"))))
    assert {r["attack_id"] for r in rows} == set(view.technique_ids)
    pairs = {(r["attack_id"], r["capability_id"]) for r in rows if r["capability_id"]}
    assert pairs == {(t, c.capability_id) for c in view.coverage[0].controls for t in c.techniques}


def test_share_posts_the_same_answer_attributed(answerer: Answerer) -> None:
    answer = answerer.answer("APT29")
    (value,) = button_values(answer, "Share")
    shared = answerer.answer_from_state(value, shared_by="U123ABC")
    assert "<@U123ABC>" in str(shared.payload.blocks) and not button_values(shared, "Share")


def test_a_forged_state_naming_an_unknown_threat_is_refused(answerer: Answerer) -> None:
    value = 'cm1:{"k":"threat","th":"G9999"}'
    assert not answerer.answer_from_state(value).ok
    with pytest.raises(ValueError):
        answerer.export(value, "csv")


def test_ask_json_of_an_actor_is_the_threat_view(answerer: Answerer) -> None:
    body = orjson.loads(answer_json(answerer.read("APT29")))
    assert body["kind"] == "threat" and body["ok"]
    assert body["view"]["threat"]["attack_id"] == "G0016"
    assert body["view"]["coverage"][0]["controls"][0]["covered"] > 0


def test_every_page_and_state_of_the_biggest_threats_fits_slack(answerer: Answerer) -> None:
    """The actors and software with the most techniques (over 60), every page, every expansion."""
    for question in ("APT29", "Lazarus Group", "Cobalt Strike", "APT28", "FIN7"):
        first = answerer.answer(question, frameworks=("nist_800_53", "m365", "aws", "azure"))
        view = first.view
        assert isinstance(view, ThreatView)
        request = ViewRequest("threat", frameworks=view.frameworks, threat=view.threat.attack_id)
        states = [State(request, page=p) for p in range(1, first.pages + 1)]
        states += [State(request, expanded=f"p:{p.technique_id}") for p in view.procedures]
        states += [State(request, expanded=f"fw:{fc.framework}") for fc in view.coverage]
        for state in states:
            out = render_threat(view, state)
            for page in range(1, out.pages + 1):
                shown = out if page == 1 else render_threat(view, state.with_(page=page))
                assert violations({"text": shown.text, "blocks": shown.blocks}, reparse=True) == [], state
                for b in shown.blocks:
                    for el in [*b.get("elements", []), b.get("accessory") or {}]:
                        if isinstance(el, dict) and "value" in el:
                            decode_state(el["value"])
                        for o in el.get("options", []) if isinstance(el, dict) else ():
                            decode_state(o["value"])
