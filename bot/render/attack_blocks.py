"""Tactics and mitigations as a Slack message: the lines of ``bot.render.attack_objects`` laid
out as a paged ``Doc`` (coverage per framework first, then the techniques), with the buttons
every answer has (pages, Share)."""

from __future__ import annotations

from collections.abc import Sequence

from bot.render.attack_objects import (
    coverage_lines,
    fallback,
    intro_lines,
    technique_heading,
    technique_line,
    title,
)
from bot.render.coverage import MRKDWN
from bot.render.mrkdwn import clip, esc
from bot.render.pages import Doc, Message, Rendered, assemble, context, packed, provenance, section
from bot.render.state import State
from store.attack_views import AttackObjectView


def render_attack_object(
    view: AttackObjectView,
    state: State,
    *,
    msg: Message | None = None,
    shared_by: str | None = None,
    notes: Sequence[str] = (),
) -> Rendered:
    msg = msg or Message()
    doc = Doc(title=title(view), text=fallback(view))
    if notes:
        doc.intro.append(context(*(f":information_source: {esc(clip(n, 300))}" for n in notes[:3])))
    doc.intro.append(section(clip("\n".join(intro_lines(view, MRKDWN)), 2900)))
    cov = coverage_lines(view, MRKDWN)
    if cov:
        doc.items.extend(packed("*Coverage per framework*", cov))
    if view.techniques:
        lines = [technique_line(t, MRKDWN) for t in view.techniques]
        doc.items.extend(packed(f"*{technique_heading(view)}*", lines))
    doc.provenance = provenance(view.provenance)
    return assemble(doc, state, msg, shared_by=shared_by)
