"""The "your controls" lines an answer carries once a team has an inventory, for Slack and the
terminal: the controls you have that map a technique, or how many of a CVE's, an actor's or a
tactic's techniques they cover, the gaps, and per framework the fewest controls to add."""

from __future__ import annotations

from typing import Any

from bot.coverage.compute import label
from bot.coverage.views import GapReport
from bot.labels import framework_label
from bot.render.coverage import PLAIN, Style, _few

MAX_FRAMEWORKS = 4  # frameworks with suggestions shown on an answer (the gap report has them all)
MAX_STEPS = 3  # suggestions per framework on an answer


def _where(r: GapReport) -> str:
    return "channel inventory" if r.inventory_scope == "channel" else "workspace inventory"


def _control(key: tuple[str, str], r: GapReport, s: Style, *, with_name: bool = True) -> str:
    name = r.control_names.get(label(key), "")
    text = s.code(key[1])
    return f"{text} {s.esc(name)}" if with_name and name and name != key[1] else text


def _suggestions(r: GapReport, s: Style, *, first_only: bool) -> list[str]:
    out = []
    for fw, sugg in list(r.coverage.suggestions.items())[:MAX_FRAMEWORKS]:
        steps = sugg[:1] if first_only else sugg[:MAX_STEPS]
        shown = ", ".join(
            f"{_control((x.framework, x.capability_id), r, s)}"
            + ("" if first_only else f" (+{len(x.closes)})")
            + (" — planned" if x.planned else "")
            for x in steps
        )
        out.append(f"{s.esc(framework_label(fw))}: {shown}")
    return out


def yours_lines(r: GapReport, s: Style, *, gaps_command: str | None = None) -> list[str]:
    """Two to four short lines; the full report is ``gaps``."""
    cov = r.coverage
    if len(cov.techniques) == 1:
        tid = cov.techniques[0]
        mine = cov.covered.get(tid, ())
        if mine:
            return [f"✓ {s.bold('Yours')} ({_where(r)}): " + ", ".join(_control(k, r, s) for k in mine)]
        lines = [f"✗ {s.bold('None of your controls')} ({_where(r)}) maps {s.code(tid)}."]
        planned = cov.planned_cover.get(tid, ())
        if planned:
            lines.append("Planned, would cover it: " + ", ".join(_control(k, r, s) for k in planned))
        steps = _suggestions(r, s, first_only=True)
        if steps:
            lines.append("Closest to add — " + " · ".join(steps))
        elif tid in cov.unmappable:
            lines.append("No control in your inventory's frameworks maps it.")
        return lines
    n = len(cov.techniques)
    lines = [f"{s.bold(f'Your controls cover {cov.covered_count} of {n} techniques')} ({_where(r)})."]
    if cov.covered:
        yours = dict.fromkeys(k for t in cov.techniques for k in cov.covered.get(t, ()))
        lines.append("✓ Yours that map them: " + _few([s.code(k[1]) for k in yours], 8))
    if cov.gaps:
        lines.append(f"{s.bold(f'Gaps ({len(cov.gaps)})')}: " + _few([s.code(t) for t in cov.gaps], 10))
        steps = _suggestions(r, s, first_only=False)
        if steps:
            lines.append("Fewest to add — " + " · ".join(steps))
        if gaps_command:
            lines.append(f"Full gap report: {s.code(gaps_command)}")
    return lines


def yours_text(r: GapReport) -> str:
    return "\n".join(yours_lines(r, PLAIN))


def yours_json(r: GapReport) -> dict[str, Any]:
    cov = r.coverage
    return {
        "inventory": r.inventory_scope,
        "techniques": list(cov.techniques),
        "covered": {t: [label(k) for k in ks] for t, ks in cov.covered.items()},
        "gaps": list(cov.gaps),
        "planned_cover": {t: [label(k) for k in ks] for t, ks in cov.planned_cover.items()},
        "suggestions": {
            fw: [{"id": x.capability_id, "name": x.name, "closes": list(x.closes)} for x in sugg]
            for fw, sugg in cov.suggestions.items()
        },
    }
