"""Coverage, gaps, pivots, several controls and diffs in words, for Slack (mrkdwn) and the terminal.

Each answer is written once as lines through a ``Style`` (how to escape, quote and embolden), so
the two surfaces say the same thing (``bot.render.coverage_blocks`` packs them for Slack).  No
slack_sdk here: the terminal's cold ``ask`` does not pay for importing it.
"""

from __future__ import annotations

from collections.abc import Callable, Iterable, Sequence
from dataclasses import dataclass

from bot.coverage.compute import Change, label
from bot.coverage.views import DiffAnswer, GapReport, PivotAnswer, TogetherAnswer
from bot.labels import framework_label, release_label
from bot.render.mrkdwn import esc

MAX_ITEMS = 25  # techniques or controls listed in one line before "… and N more"


@dataclass(frozen=True)
class Style:
    esc: Callable[[str], str]
    code: Callable[[str], str]
    bold: Callable[[str], str]


MRKDWN = Style(esc, lambda s: f"`{esc(s)}`", lambda s: f"*{s}*")
PLAIN = Style(str, str, str)


def _few(items: Sequence[str], limit: int = MAX_ITEMS) -> str:
    shown = ", ".join(items[:limit])
    return shown + (f" … and {len(items) - limit} more" if len(items) > limit else "")


def _tech(tid: str, names: dict[str, str], s: Style) -> str:
    name = names.get(tid)
    return s.code(tid) + (f" {s.esc(name)}" if name else "")


def gap_report_lines(r: GapReport, s: Style) -> list[str]:
    cov = r.coverage
    n = len(cov.techniques)
    subject = f"{r.subject.id} {r.subject.name}".strip() if r.subject.id != r.subject.name else r.subject.name
    lines = [s.bold(f"Coverage of {s.esc(subject)}")]
    if r.inventory_scope == "none":
        lines.append(
            "No control inventory yet, so nothing counts as yours: add controls with "
            f"{s.code('inventory add SC-07 amazon_guardduty')}."
            " Below, the controls that would close the most."
        )
    elif n == 0:
        lines.append("No techniques to check.")
    else:
        where = "this channel's inventory" if r.inventory_scope == "channel" else "the workspace inventory"
        lines.append(f"Your controls ({where}) cover {s.bold(f'{cov.covered_count} of {n}')} techniques.")
    if r.releases:
        lines.append("Releases: " + "; ".join(s.esc(release_label(x)) for x in r.releases))
    if cov.covered:
        covered = [
            f"{_tech(t, r.technique_names, s)} ({', '.join(s.code(c) for _, c in cov.covered[t][:3])})"
            for t in cov.techniques
            if t in cov.covered
        ]
        lines.append(s.bold("Covered") + ": " + _few(covered, 12))
    if cov.gaps:
        gaps = [_tech(t, r.technique_names, s) for t in cov.gaps]
        lines.append(s.bold(f"Gaps ({len(cov.gaps)})") + ": " + _few(gaps))
    if cov.planned_cover:
        planned = [
            f"{s.code(t)} by {', '.join(s.code(c) for _, c in ks)}" for t, ks in cov.planned_cover.items()
        ]
        lines.append("Planned controls would close: " + _few(planned, 10))
    for fw, sugg in cov.suggestions.items():
        steps = [
            f"{s.code(x.capability_id)} {s.esc(x.name)} (+{len(x.closes)}{', planned' if x.planned else ''})"
            for x in sugg
        ]
        closes = sum(len(x.closes) for x in sugg)
        lines.append(
            f"{s.bold(s.esc(framework_label(fw)))}: add {_few(steps, 5)}"
            f" to close {closes} of {len(cov.gaps)} gaps"
        )
    if cov.unmappable:
        lines.append(
            f"No control of the frameworks above maps {len(cov.unmappable)} of the gaps: "
            + _few([s.code(t) for t in cov.unmappable], 15)
        )
    lines.extend(s.esc(note[:1].upper() + note[1:]) + "." for note in r.notes)
    return lines


def pivot_lines(p: PivotAnswer, s: Style) -> list[str]:
    src = f"{p.source_id} {p.source_name}".strip()
    lines = [s.bold(f"{s.esc(src)} in {s.esc(framework_label(p.target_framework))}")]
    lines.append(
        f"{s.code(p.source_id)} maps {len(p.source_techniques)} techniques"
        f" in {s.esc(release_label(p.source_release))}."
    )
    if p.target_release is None:
        lines.append(f"No {s.esc(framework_label(p.target_framework))} release of that domain is loaded.")
        return lines
    if not p.lines:
        lines.append(
            f"No {s.esc(framework_label(p.target_framework))} capability maps any of them "
            f"({s.esc(release_label(p.target_release))})."
        )
        return lines
    lines.append(f"Ranked by overlap in {s.esc(release_label(p.target_release))}:")
    for x in p.lines:
        lines.append(
            f"• {s.code(x.capability_id)} {s.esc(x.name)}: covers {len(x.shared)} of the "
            f"{len(p.source_techniques)} techniques {s.esc(p.source_id)} covers (Jaccard {x.jaccard:.2f})"
        )
    return lines


def pivot_detail_lines(p: PivotAnswer, capability_id: str, s: Style) -> list[str]:
    """The shared and missing techniques of one pivot line (the expand)."""
    line = next((x for x in p.lines if x.capability_id == capability_id), None)
    if line is None:
        return []
    return [
        s.bold(f"{s.esc(capability_id)} and {s.esc(p.source_id)}"),
        f"Shared ({len(line.shared)}): "
        + _few([_tech(t, p.technique_names, s) for t in sorted(line.shared)], 40),
        f"Missing ({len(line.missing)}): "
        + _few([_tech(t, p.technique_names, s) for t in sorted(line.missing)], 40),
    ]


def together_lines(t: TogetherAnswer, s: Style) -> list[str]:
    tog = t.together
    ids = [c.capability_id for c in tog.controls]
    lines = [s.bold(" + ".join(s.esc(i) for i in ids)) + f": {len(tog.union)} techniques between them"]
    for c in tog.controls:
        rel = t.release.get(label(c.key))
        where = f" ({s.esc(release_label(rel))})" if rel else " (no release of its framework in this domain)"
        adds = sorted(tog.adds.get(label(c.key), frozenset()))
        lines.append(
            f"• {s.code(c.capability_id)} {s.esc(c.name)} maps {len(c.techniques)}{where}; "
            f"only it: {len(adds)}" + (f" ({_few([s.code(x) for x in adds], 10)})" if adds else "")
        )
    if len(tog.controls) > 1:
        lines.append(f"Mapped by all of them: {len(tog.shared_by_all)}.")
    return lines


def _change(c: Change, s: Style) -> str:
    what = f"{s.code(c.capability_id)} × {s.code(c.attack_id)}"
    if c.before and c.after:
        return f"{what}: {s.esc(', '.join(c.before))} → {s.esc(', '.join(c.after))}"
    return f"{what} ({s.esc(', '.join(c.after or c.before))})"


def diff_lines(d: DiffAnswer, s: Style) -> list[str]:
    subject = f"{d.subject_id} {d.subject_name}".strip()
    lines = [
        s.bold(f"What changed for {s.esc(subject)}"),
        f"{s.esc(release_label(d.before))} → {s.esc(release_label(d.after))}",
    ]
    df = d.diff
    if not (df.added or df.removed or df.changed):
        lines.append(f"No mapping was added, removed or changed ({df.unchanged} the same).")
    for head, items in (("Added", df.added), ("Removed", df.removed), ("Changed", df.changed)):
        if items:
            lines.append(f"{s.bold(f'{head} ({len(items)})')}: " + _few([_change(c, s) for c in items], 20))
    if df.unchanged and (df.added or df.removed or df.changed):
        lines.append(f"Unchanged: {df.unchanged}.")
    for before, after, n in df.renamed_types:
        lines.append(
            f"The mapping type {s.code(before)} is called {s.code(after)}"
            f" in the newer release ({n} mappings)."
        )
    lines.extend(s.esc(n) for n in d.notes)
    return lines


def as_text(lines: Iterable[str]) -> str:
    return "\n".join(lines)


CoverageViews = GapReport | PivotAnswer | TogetherAnswer | DiffAnswer


def coverage_lines(view: CoverageViews | Sequence[DiffAnswer], s: Style) -> list[str]:
    if isinstance(view, GapReport):
        return gap_report_lines(view, s)
    if isinstance(view, PivotAnswer):
        return pivot_lines(view, s)
    if isinstance(view, TogetherAnswer):
        return together_lines(view, s)
    if isinstance(view, DiffAnswer):
        return diff_lines(view, s)
    out: list[str] = []
    for d in view:
        out.extend([*diff_lines(d, s), ""])
    return out[:-1]


def coverage_text(view: CoverageViews | Sequence[DiffAnswer]) -> str:
    return as_text(coverage_lines(view, PLAIN))
