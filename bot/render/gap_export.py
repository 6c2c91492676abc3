"""A gap report as files: CSV (one row per technique) and an ATT&CK Navigator layer (covered in one
colour, gaps in another, the controls that cover each as its comment)."""

from __future__ import annotations

import csv
import io
import re

import orjson

from bot.coverage.views import GapReport
from bot.render.export import LAYER_VERSIONS, NAVIGATOR_DOMAINS

COVERED, PLANNED, GAP = "#66bb6a", "#ffd54f", "#ef5350"
_FORMULA = re.compile(r"^[=+\-@\t\r]")


def _cell(value: object) -> str:
    s = "" if value is None else str(value)
    return "'" + s if _FORMULA.match(s) else s


def _name(report: GapReport) -> str:
    base = report.subject.id or report.subject.kind
    return re.sub(r"[^A-Za-z0-9._-]+", "_", f"gaps-{base}").strip("_")


def gap_csv(report: GapReport) -> tuple[str, bytes]:
    cov = report.coverage
    buf = io.StringIO()
    w = csv.writer(buf, lineterminator="\r\n")
    w.writerow(["attack_id", "attack_name", "status", "your_controls", "planned_controls", "no_control_maps"])
    for t in cov.techniques:
        status = "covered" if t in cov.covered else ("planned" if t in cov.planned_cover else "gap")
        w.writerow(
            _cell(v)
            for v in (
                t,
                report.technique_names.get(t, ""),
                status,
                " ".join(f"{fw}:{c}" for fw, c in cov.covered.get(t, ())),
                " ".join(f"{fw}:{c}" for fw, c in cov.planned_cover.get(t, ())),
                "yes" if t in cov.unmappable else "",
            )
        )
    return f"countermap-{_name(report)}.csv", buf.getvalue().encode("utf-8-sig")


def layer_attack_version(report: GapReport) -> str:
    """The newest ATT&CK major version among the releases consulted (the layer's IDs are theirs)."""
    majors = [int(m.group(1)) for r in report.releases if (m := re.match(r"(\d+)", r.attack_version))]
    return str(max(majors)) if majors else LAYER_VERSIONS["attack"]


def gap_layer(report: GapReport) -> tuple[str, bytes]:
    cov = report.coverage
    techniques = []
    for t in cov.techniques:
        if t in cov.covered:
            color, score = COVERED, 2
            comment = "covered by " + ", ".join(f"{fw}:{c}" for fw, c in cov.covered[t])
        elif t in cov.planned_cover:
            color, score = PLANNED, 1
            comment = "gap; planned: " + ", ".join(f"{fw}:{c}" for fw, c in cov.planned_cover[t])
        else:
            color, score = GAP, 0
            comment = "gap" + ("; no control of these frameworks maps it" if t in cov.unmappable else "")
        techniques.append(
            {
                "techniqueID": t,
                "score": score,
                "color": color,
                "comment": comment[:1000],
                "enabled": True,
                "showSubtechniques": "." not in t,
            }
        )
    releases = "; ".join(
        f"{r.framework} {r.framework_version} @ ATT&CK {r.attack_version}" for r in report.releases
    )
    layer = {
        "name": f"countermap gaps: {report.subject.id} {report.subject.name}".strip()[:200],
        "versions": {**LAYER_VERSIONS, "attack": layer_attack_version(report)},
        "domain": NAVIGATOR_DOMAINS.get(report.domain, "enterprise-attack"),
        "description": (
            f"Your controls cover {cov.covered_count} of {len(cov.techniques)} techniques"
            + (f" ({releases})" if releases else "")
            + ". Green: covered; yellow: a planned control would cover it; red: gap."
        ),
        "sorting": 3,
        "layout": {"layout": "side", "showID": True, "showName": True},
        "hideDisabled": False,
        "techniques": techniques,
        "gradient": {"colors": [GAP, PLANNED, COVERED], "minValue": 0, "maxValue": 2},
        "legendItems": [
            {"label": "covered", "color": COVERED},
            {"label": "planned", "color": PLANNED},
            {"label": "gap", "color": GAP},
        ],
        "showTacticRowBackground": False,
        "selectTechniquesAcrossTactics": True,
        "selectSubtechniquesWithParent": False,
    }
    return f"countermap-{_name(report)}.layer.json", orjson.dumps(layer, option=orjson.OPT_INDENT_2)
