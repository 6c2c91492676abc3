"""Exports of a view: the mappings it shows as CSV, and an ATT&CK Navigator layer.

The layer follows Navigator's layer format 4.5 (ATT&CK 18, Navigator 5): techniques are scored
by their best score value (minimal 1, partial 2, significant 3) when the mappings are scored,
else by their number of mappings, with a gradient and a legend saying which.
"""

from __future__ import annotations

import csv
import io
import re
from collections.abc import Iterator
from typing import Any

import orjson

from bot.labels import framework_label
from store.threat_views import AnyView, DetectionView
from store.views import (
    CapabilityView,
    CompareView,
    ControlLine,
    CveView,
    MappingLine,
    PairView,
    TechniqueView,
    score_rank,
)

LAYER_VERSIONS = {"attack": "18", "navigator": "5.1.0", "layer": "4.5"}
NAVIGATOR_DOMAINS = {"enterprise": "enterprise-attack", "mobile": "mobile-attack", "ics": "ics-attack"}
CSV_COLUMNS = (
    "framework",
    "framework_version",
    "attack_version",
    "domain",
    "capability_id",
    "capability_name",
    "capability_group",
    "attack_id",
    "attack_name",
    "mapping_type",
    "score_category",
    "score_value",
    "license_requirements",
    "comments",
    "references",
)
_FORMULA = re.compile(r"^[=+\-@\t\r]")


def _rows(view: AnyView) -> Iterator[tuple[MappingLine, Any]]:
    """Every (mapping, release) the view shows."""
    if isinstance(view, TechniqueView):
        for sec in view.sections:
            for g in sec.groups:
                for line in g.lines:
                    yield line, sec.release
    elif isinstance(view, CapabilityView):
        seen: set[str] = set()
        for tg in view.tactics:
            for g in tg.groups:
                for line in g.lines:
                    if line.key not in seen:  # a technique under two tactics is one mapping
                        seen.add(line.key)
                        yield line, view.release
    elif isinstance(view, PairView):
        for pr in view.releases:
            for line in pr.lines:
                yield line, pr.release
    elif isinstance(view, CveView):
        yield from _cve_rows(view)
    elif isinstance(view, DetectionView):
        for ds in view.sections:
            for line in ds.lines:
                yield line, ds.release
    elif isinstance(view, CompareView):
        releases = {row.framework: row.release for row in view.rows}
        t = view.technique
        for fw, controls in view.best:
            for c in controls:
                yield _control_row(c, t.id, t.name), releases.get(fw)


def _control_row(
    c: ControlLine, attack_id: str, attack_name: str, comments: str | None = None
) -> MappingLine:
    """A summarised control as a CSV row: its best mapping for the technique."""
    return MappingLine(
        key=f"{c.framework}|{c.capability_id}|{attack_id}",
        framework=c.framework,
        capability_id=c.capability_id,
        capability_name=c.name,
        capability_id_as_written=c.capability_id,
        group=None,
        attack_id=attack_id,
        attack_name=attack_name,
        mapping_type=c.mapping_type,
        mapping_type_label=c.mapping_type,
        score_category=c.score_category,
        score_value=c.score_value,
        comments=comments,
    )


def _cve_rows(view: CveView) -> Iterator[tuple[MappingLine, Any]]:
    """The CVE's KEV mappings (one row per technique and impact), then the best controls for
    those techniques, each saying how many of them it covers."""
    cve = view.cve
    for ct in view.techniques:
        for impact in ct.impacts:
            line = MappingLine(
                key=f"kev|{cve.id}|{ct.technique.id}|{impact}",
                framework="kev",
                capability_id=cve.id,
                capability_name=cve.name,
                capability_id_as_written=cve.id,
                group=cve.group,
                attack_id=ct.technique.id,
                attack_name=ct.technique.name,
                mapping_type=impact,
                mapping_type_label=impact,
                comments=ct.comments,
            )
            yield line, view.release
    releases = {r.framework: r for r in view.control_releases}
    n = len(view.techniques)
    for fw, controls in view.controls:
        for c in controls:
            note = f"best control for {cve.id}: covers {c.count} of its {n} techniques"
            yield _control_row(c, "", "", note), releases.get(fw)


def exportable(view: AnyView) -> bool:
    """The view shows at least one mapping: its CSV has rows and its layer techniques."""
    return next(_rows(view), None) is not None


def _cell(value: object) -> str:
    """Plain text; a leading ``= + - @`` is quoted so spreadsheets do not run it as a formula."""
    s = "" if value is None else str(value)
    return "'" + s if _FORMULA.match(s) else s


def _subject(view: AnyView) -> str:
    if isinstance(view, TechniqueView | CompareView):
        h = view.header if isinstance(view, TechniqueView) else view.technique
        return h.id
    if isinstance(view, CapabilityView):
        return f"{view.capability.framework}-{view.capability.id}"
    if isinstance(view, PairView):
        return f"{view.technique.id}-{view.capability.id}"
    if isinstance(view, CveView):
        return view.cve.id
    if isinstance(view, DetectionView):
        return f"{view.header.id}-detect"
    return "answer"


def _filename(view: AnyView, ext: str) -> str:
    safe = re.sub(r"[^A-Za-z0-9._-]+", "_", _subject(view)).strip("_") or "answer"
    return f"countermap-{safe}.{ext}"


def to_csv(view: AnyView) -> tuple[str, bytes]:
    buf = io.StringIO()
    writer = csv.writer(buf, lineterminator="\r\n")
    writer.writerow(CSV_COLUMNS)
    for line, rel in _rows(view):
        writer.writerow(
            _cell(v)
            for v in (
                line.framework,
                rel.framework_version if rel else "",
                rel.attack_version if rel else "",
                rel.domain if rel else "",
                line.capability_id,
                line.capability_name,
                line.group,
                line.attack_id,
                line.attack_name,
                line.mapping_type,
                line.score_category,
                line.score_value,
                line.license_requirements,
                line.comments,
                " ".join(line.references),
            )
        )
    return _filename(view, "csv"), buf.getvalue().encode("utf-8-sig")


def _layer_techniques(view: AnyView) -> tuple[dict[str, dict[str, Any]], str, str]:
    """technique ID → {count, best, comment parts}; plus domain and a title."""
    acc: dict[str, dict[str, Any]] = {}

    def add(tid: str, best: str | None, note: str) -> None:
        slot = acc.setdefault(tid, {"count": 0, "best": 0, "notes": []})
        slot["count"] += 1
        slot["best"] = max(slot["best"], score_rank(best))
        if note and note not in slot["notes"]:
            slot["notes"].append(note)

    domain = "enterprise"
    title = _subject(view)
    if isinstance(view, TechniqueView):
        domain = view.header.domain
        title = f"{view.header.id} {view.header.name}"
        for line, _ in _rows(view):
            add(line.attack_id, line.score_value, f"{line.capability_id} {line.capability_name}")
        for sub in view.subtechniques:
            for _ in range(sub.count):
                add(sub.id, None, "")
    elif isinstance(view, CapabilityView):
        title = f"{view.capability.id} {view.capability.name}"
        domain = view.release.domain if view.release else "enterprise"
        for line, _ in _rows(view):
            add(line.attack_id, line.score_value, line.mapping_type_label)
    elif isinstance(view, PairView):
        domain = view.technique.domain
        title = f"{view.technique.id} × {view.capability.id}"
        for pr in view.releases[:1]:
            for line in pr.lines:
                add(line.attack_id, line.score_value, line.mapping_type_label)
        for sref in view.subtechniques:
            add(sref.id, None, "")
    elif isinstance(view, CveView):
        title = f"{view.cve.id} {view.cve.name}"
        for ct in view.techniques:
            domain = ct.technique.domain
            for impact in ct.impacts:
                add(ct.technique.id, None, impact)
    elif isinstance(view, DetectionView):
        domain = view.header.domain
        title = f"Detect {view.header.id} {view.header.name}"
        for line, _ in _rows(view):
            add(line.attack_id, line.score_value, f"{line.capability_id} {line.capability_name}")
    elif isinstance(view, CompareView):
        domain = view.technique.domain
        title = f"{view.technique.id} {view.technique.name}"
        for cov in view.rows:
            for _ in range(cov.total):
                add(
                    view.technique.id,
                    max((c.best for c in cov.categories.values()), key=score_rank, default=None),
                    "",
                )
    return acc, domain, title


SCORE_COLOURS = {1: "#cfe2ff", 2: "#6ea8fe", 3: "#0a58ca"}  # minimal, partial, significant
COUNT_COLOURS = ("#e7f1ff", "#0a58ca")  # fewest mappings → most


def layer_attack_version(view: AnyView) -> str:
    """The ATT&CK major version of the releases the view shows (Navigator opens a layer in
    that version, so IDs revoked since keep their place); the newest loaded when none."""
    versions = [r.attack_version for r in getattr(view, "provenance", ()) if r.attack_version]
    if isinstance(view, CveView) and view.release:
        versions.insert(0, view.release.attack_version)
    major = versions[0].split(".")[0] if versions else ""
    return major if major.isdigit() else LAYER_VERSIONS["attack"]


def to_navigator(view: AnyView) -> tuple[str, bytes]:
    acc, domain, title = _layer_techniques(view)
    # Scored colours only when every technique has a score value (a framework that scores its
    # mappings, alone); otherwise the number of mappings, which every framework has.
    scored = bool(acc) and all(v["best"] for v in acc.values())
    key = "best" if scored else "count"
    top = max((v[key] for v in acc.values()), default=1) or 1
    techniques = []
    for tid, v in sorted(acc.items()):
        entry: dict[str, Any] = {
            "techniqueID": tid,
            "score": v[key],
            "comment": "; ".join(v["notes"])[:1000],
            "enabled": True,
            "showSubtechniques": "." not in tid,
        }
        if scored:
            entry["color"] = SCORE_COLOURS[v["best"]]
        techniques.append(entry)
    if scored:
        legend = [
            {"label": label, "color": SCORE_COLOURS[i + 1]}
            for i, label in enumerate(("minimal", "partial", "significant"))
            if any(v["best"] == i + 1 for v in acc.values())
        ]
        gradient = {
            "colors": [SCORE_COLOURS[1], SCORE_COLOURS[2], SCORE_COLOURS[3]],
            "minValue": 1,
            "maxValue": 3,
        }
    else:
        legend = [{"label": "1 mapping", "color": COUNT_COLOURS[0] if top > 1 else COUNT_COLOURS[1]}]
        if top > 1:
            legend.append({"label": f"{top} mappings", "color": COUNT_COLOURS[1]})
        gradient = {"colors": list(COUNT_COLOURS), "minValue": 1 if top > 1 else 0, "maxValue": top}
    frameworks = sorted({line.framework for line, _ in _rows(view)})
    layer = {
        "name": f"countermap: {title}"[:200],
        "versions": {**LAYER_VERSIONS, "attack": layer_attack_version(view)},
        "domain": NAVIGATOR_DOMAINS.get(domain, "enterprise-attack"),
        "description": (
            "Techniques scored by "
            + ("best score value (minimal 1, partial 2, significant 3)" if scored else "number of mappings")
            + (f" in {', '.join(framework_label(f) for f in frameworks)}" if frameworks else "")
            + ". Exported by countermap from the Mappings Explorer data."
        ),
        "sorting": 3,
        "layout": {"layout": "side", "showID": True, "showName": True},
        "hideDisabled": False,
        "techniques": techniques,
        "gradient": gradient,
        "legendItems": legend,
        "showTacticRowBackground": False,
        "selectTechniquesAcrossTactics": True,
        "selectSubtechniquesWithParent": False,
    }
    return _filename(view, "layer.json"), orjson.dumps(layer, option=orjson.OPT_INDENT_2)
