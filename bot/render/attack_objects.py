"""Tactics and mitigations in words, for Slack (mrkdwn) and the terminal: per framework how many
of the techniques its controls map and which controls map the most, then the techniques, each
with the controls that map it.

Written once as lines through a ``Style`` (as ``bot.render.coverage`` does); no slack_sdk here,
so the terminal's cold ``ask`` does not import it (``attack_blocks`` lays the lines out for Slack).
"""

from __future__ import annotations

from bot.labels import framework_label
from bot.render.coverage import Style
from store.attack_views import AttackObjectView, FrameworkSpread, TechniqueControls

MAX_GAPS = 8  # technique IDs listed as a framework's gaps before "and N more"
MAX_BEST = 3  # controls named on a framework's line


def title(view: AttackObjectView) -> str:
    s = view.subject
    dom = "" if s.domain == "enterprise" else f", {s.domain}"
    return f"{s.attack_id} {s.name} ({s.kind}{dom})"


def intro_lines(view: AttackObjectView, st: Style) -> list[str]:
    s = view.subject
    n = len(view.techniques)
    if s.kind == "tactic":
        subs = sum(t.sub_techniques for t in view.techniques)
        count = f"{n} technique{'s' if n != 1 else ''}" + (f" and {subs} sub-techniques" if subs else "")
        lines = [st.esc(f"ATT&CK tactic: {count}.")]
    else:
        lines = [st.esc(view.summary)] if view.summary else []
        lines.append(st.esc(f"Mitigates {n} technique{'s' if n != 1 else ''} in ATT&CK."))
    if not n:
        lines.append(st.esc("No current technique is linked to it in the loaded ATT&CK."))
    if s.url:
        lines.append(st.esc(s.url))
    return lines


def _spread(c: FrameworkSpread, st: Style) -> str:
    head = st.bold(st.esc(f"{framework_label(c.framework)} {c.release.framework_version}"))
    line = f"{head}: maps {c.covered} of {c.of}"
    if c.best:
        best = ", ".join(
            f"{st.code(b.capability_id)} {st.esc(b.name)} ({b.covered})" for b in c.best[:MAX_BEST]
        )
        line += f" · most: {best}"
    if c.unmapped and c.covered:
        gaps = ", ".join(c.unmapped[:MAX_GAPS])
        more = f" and {len(c.unmapped) - MAX_GAPS} more" if len(c.unmapped) > MAX_GAPS else ""
        line += f" · not mapped: {st.esc(gaps)}{more}"
    return line


def coverage_lines(view: AttackObjectView, st: Style) -> list[str]:
    lines = [_spread(c, st) for c in view.coverage]
    if view.missing_frameworks:
        miss = ", ".join(framework_label(fw) for fw in view.missing_frameworks)
        lines.append(st.esc(f"No {view.subject.domain} release of {miss} is loaded."))
    return lines


def technique_line(t: TechniqueControls, st: Style) -> str:
    ref = t.technique
    line = f"{st.code(ref.id)} {st.esc(ref.name)}"
    if t.sub_techniques:
        line += f" (+{t.sub_techniques} sub)"
    parts = [
        f"{st.esc(framework_label(fw))} " + " ".join(st.code(cid) for cid in cids) for fw, cids in t.controls
    ]
    return line + (" — " + " · ".join(parts) if parts else " — no control maps it")


def technique_heading(view: AttackObjectView) -> str:
    if view.subject.kind == "tactic":
        return "Techniques, with the controls that map each"
    return "Techniques it mitigates, with the framework controls that map each"


def fallback(view: AttackObjectView) -> str:
    s = view.subject
    spread = "; ".join(f"{framework_label(c.framework)} {c.covered}/{c.of}" for c in view.coverage)
    return f"{s.attack_id} {s.name}" + (f": {spread}" if spread else "")


def plain_text(view: AttackObjectView, st: Style) -> str:
    """The whole answer as text (the terminal's)."""
    lines = [st.bold(title(view)), *intro_lines(view, st), ""]
    if view.coverage or view.missing_frameworks:
        lines += [st.bold("Coverage per framework"), *coverage_lines(view, st), ""]
    if view.techniques:
        lines += [st.bold(technique_heading(view)), *(technique_line(t, st) for t in view.techniques)]
    return "\n".join(lines).rstrip()
