"""A threat answer's exports: CSV (each technique with the controls of each framework that map
it) and an ATT&CK Navigator layer of its techniques scored by coverage."""

from __future__ import annotations

import csv
import io
import re
from typing import Any

import orjson

from bot.labels import framework_label, technique_name
from bot.render.export import LAYER_VERSIONS, NAVIGATOR_DOMAINS, _cell
from store.threat_views import ThreatView

CSV_COLUMNS = (
    "threat_id",
    "threat_name",
    "attack_id",
    "attack_name",
    "tactics",
    "linked_as",
    "procedure",
    "framework",
    "framework_version",
    "attack_version",
    "domain",
    "capability_id",
    "capability_name",
    "techniques_covered",
    "best_score",
)
UNCOVERED_COLOUR = "#ff8a80"
COVERED_COLOURS = ("#c8e6c9", "#1b5e20")  # fewest controls → most


def _filename(view: ThreatView, ext: str) -> str:
    t = view.threat
    safe = re.sub(r"[^A-Za-z0-9._-]+", "_", f"{t.attack_id}-{t.name}").strip("_") or "threat"
    return f"countermap-{safe}.{ext}"


def controls_by_technique(view: ThreatView) -> dict[str, dict[str, list[Any]]]:
    """technique → framework → the controls (ControlCoverage, ranked) that map it."""
    out: dict[str, dict[str, list[Any]]] = {tid: {} for tid in view.technique_ids}
    for fc in view.coverage:
        for c in fc.controls:
            for tid in c.techniques:
                out.setdefault(tid, {}).setdefault(fc.framework, []).append(c)
    return out


def threat_csv(view: ThreatView) -> tuple[str, bytes]:
    buf = io.StringIO()
    writer = csv.writer(buf, lineterminator="\r\n")
    writer.writerow(CSV_COLUMNS)
    t = view.threat
    per = controls_by_technique(view)
    for p in view.procedures:
        head = [
            t.attack_id,
            t.name,
            p.technique_id,
            technique_name(p.technique_name),
            "; ".join(p.tactics),
            p.revoked_id,
            p.text,
        ]
        if not view.coverage:
            writer.writerow(_cell(v) for v in head + [""] * 8)
        for fc in view.coverage:
            rel = fc.release
            where = [fc.framework, rel.framework_version, rel.attack_version, rel.domain]
            controls = per.get(p.technique_id, {}).get(fc.framework, [])
            if not controls:
                writer.writerow(_cell(v) for v in head + where + ["", "", "", ""])
            for c in controls:
                row = head + where + [c.capability_id, c.name, f"{c.covered} of {c.of}", c.best_score]
                writer.writerow(_cell(v) for v in row)
    return _filename(view, "csv"), buf.getvalue().encode("utf-8-sig")


def threat_layer(view: ThreatView) -> tuple[str, bytes]:
    """The threat's techniques, each scored by how many controls of the frameworks shown map it
    (0, in red: none does), with its procedure and those controls in the comment."""
    t = view.threat
    per = controls_by_technique(view)
    scores = {tid: sum(len(cs) for cs in per.get(tid, {}).values()) for tid in view.technique_ids}
    top = max(scores.values(), default=0)
    techniques = []
    for p in view.procedures:
        n = scores[p.technique_id]
        names = [
            f"{framework_label(fw)}: " + ", ".join(c.capability_id for c in cs[:12])
            for fw, cs in per.get(p.technique_id, {}).items()
        ]
        comment = "; ".join(
            [*names, (p.text or "")[:400]] if names else ["no control maps it", (p.text or "")[:400]]
        )
        entry: dict[str, Any] = {
            "techniqueID": p.technique_id,
            "score": n,
            "comment": comment.strip("; ")[:1000],
            "enabled": True,
            "showSubtechniques": False,
        }
        if n == 0:
            entry["color"] = UNCOVERED_COLOUR
        techniques.append(entry)
    legend = [{"label": "no control maps it", "color": UNCOVERED_COLOUR}]
    if top >= 1:
        legend.append({"label": "1 control", "color": COVERED_COLOURS[0]})
    if top > 1:
        legend.append({"label": f"{top} controls", "color": COVERED_COLOURS[1]})
    frameworks = ", ".join(
        f"{framework_label(fc.framework)} {fc.release.framework_version}" for fc in view.coverage
    )
    attack = view.coverage[0].release.attack_version.split(".")[0] if view.coverage else ""
    layer = {
        "name": f"countermap: {t.attack_id} {t.name}"[:200],
        "versions": {**LAYER_VERSIONS, "attack": attack if attack.isdigit() else LAYER_VERSIONS["attack"]},
        "domain": NAVIGATOR_DOMAINS.get(view.domain, "enterprise-attack"),
        "description": (
            f"The techniques ATT&CK says {t.name} uses, scored by how many controls map each"
            + (f" in {frameworks}" if frameworks else "")
            + " (0, red: none). Exported by countermap from the Mappings Explorer data."
        ),
        "sorting": 3,
        "layout": {"layout": "side", "showID": True, "showName": True},
        "hideDisabled": False,
        "techniques": techniques,
        "gradient": {
            "colors": [COVERED_COLOURS[0], COVERED_COLOURS[1]],
            "minValue": 0,
            "maxValue": max(top, 1),
        },
        "legendItems": legend,
        "showTacticRowBackground": False,
        "selectTechniquesAcrossTactics": True,
        "selectSubtechniquesWithParent": False,
    }
    return _filename(view, "layer.json"), orjson.dumps(layer, option=orjson.OPT_INDENT_2)
