"""A question that named several entities → one compact line each (Slack and terminal words).

The line's words are written once, as (kind, text) parts, so Slack (``multi_blocks``: mrkdwn,
escaped, IDs in code) and the terminal (plain) say the same thing.  No slack_sdk here: the
terminal does not import it.
"""

from __future__ import annotations

from bot.labels import framework_label, release_label
from store.views import ControlLine, MultiEntry, MultiView

# A line is a list of parts: ("id", "T1048"), ("text", "Exfiltration ..."), ("bold", ...).
Part = tuple[str, str]


def title(view: MultiView) -> str:
    if view.technique is not None:
        t = view.technique
        return f"{t.id} {t.name} × {len(view.entries)} controls"
    return f"{len(view.entries)} things asked about"


def _controls(controls: tuple[ControlLine, ...]) -> list[Part]:
    out: list[Part] = []
    for i, c in enumerate(controls):
        out += [("text", ", " if i else ""), ("id", c.capability_id), ("text", f" {c.name}")]
    return out


def line_parts(e: MultiEntry, view: MultiView) -> list[Part]:
    """What one entity's line says."""
    if not e.known:
        parts: list[Part] = [("id", e.id), ("text", " does not exist in the loaded ATT&CK data")]
        if e.nearest:
            parts.append(("text", "; nearest: "))
            for i, t in enumerate(e.nearest):
                parts += [("text", ", " if i else ""), ("id", t.id), ("text", f" {t.name}")]
        return parts
    head: list[Part] = [("id", e.id), ("text", f" {e.name}" if e.name and e.name != e.id else "")]
    if e.kind == "pair" and view.technique is not None:
        tid = view.technique.id
        where = f" ({release_label(e.release)})" if e.release else ""
        if e.mapped:
            how = f" ({', '.join(e.how)})" if e.how else ""
            return [*head, ("text", f" — maps {tid}{how}{where}")]
        if e.release is None:
            return [*head, ("text", f" — no {framework_label(e.framework or '')} release matches")]
        return [*head, ("text", f" — does not map {tid}{where}")]
    if e.kind == "technique":
        if not e.total:
            fws = ", ".join(framework_label(fw) for fw in view.frameworks)
            return [*head, ("text", f" — no mappings in {fws}")]
        return [*head, ("text", f" — {e.total} mappings; top: "), *_controls(e.controls)]
    if e.kind == "cve":
        if not e.total:
            return [*head, ("text", " — no KEV release maps it to a technique")]
        parts = [*head, ("text", f" — {e.total} technique{'s' if e.total != 1 else ''} (")]
        for i, t in enumerate(e.techniques):
            parts += [("text", ", " if i else ""), ("id", t.id)]
        parts.append(("text", " …)" if e.total > len(e.techniques) else ")"))
        if e.controls:
            parts += [("text", "; best controls: "), *_controls(e.controls)]
        return parts
    where = f" ({release_label(e.release)})" if e.release else ""
    if not e.total:
        return [*head, ("text", f" — maps no technique{where}")]
    names: list[Part] = []
    for i, t in enumerate(e.techniques):
        names += [("text", ", " if i else ""), ("id", t.id)]
    more = " …" if e.total > len(e.techniques) else ""
    return [*head, ("text", f" — maps {e.total} techniques{where}: "), *names, ("text", more)]


def plain(parts: list[Part]) -> str:
    return "".join(text for _, text in parts)
