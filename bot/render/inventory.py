"""Inventory replies in words: what changed, what was refused and why, what the inventory holds.

One function per surface: ``inventory_mrkdwn`` for Slack (escaped), ``inventory_plain`` for the
terminal.  Both read the same ``Outcome``.
"""

from __future__ import annotations

from collections import defaultdict
from collections.abc import Callable, Iterable

from bot.inventory.service import Outcome
from bot.labels import framework_label
from bot.render.mrkdwn import esc
from store.state.inventory import WORKSPACE, Control

MAX_LISTED = 60
MAX_PROBLEMS = 10


def _scope(channel_id: str, mention: Callable[[str], str]) -> str:
    return "the workspace inventory" if channel_id == WORKSPACE else f"{mention(channel_id)}'s own inventory"


def _cap(text: str) -> str:
    return text[:1].upper() + text[1:]


def _controls(controls: Iterable[Control], names: dict[tuple[str, str], str], q: Callable[[str], str]) -> str:
    by_fw: dict[str, list[Control]] = defaultdict(list)
    for c in sorted(controls):
        by_fw[c.framework].append(c)
    lines = []
    shown = 0
    for fw, items in by_fw.items():
        parts = []
        for c in items:
            if shown >= MAX_LISTED:
                break
            name = names.get(c.key, "")
            label = q(c.capability_id) + (
                f" {name}" if name and name.lower() != c.capability_id.lower() else ""
            )
            parts.append(label + (" (planned)" if c.status == "planned" else ""))
            shown += 1
        if parts:
            lines.append(f"{framework_label(fw)}: " + ", ".join(parts))
    total = sum(len(v) for v in by_fw.values())
    if total > shown:
        lines.append(f"… and {total - shown} more (export the inventory for the full list)")
    return "\n".join(lines)


def _render(
    o: Outcome, esc_: Callable[[str], str], q: Callable[[str], str], mention: Callable[[str], str], cmd: str
) -> str:
    if o.error:
        return f"Nothing was changed: {esc_(o.error)}"
    if o.problems:
        n = len(o.problems)
        lines = [f"Nothing was changed: {n} of the IDs {'was' if n == 1 else 'were'} not taken."]
        for p in o.problems[:MAX_PROBLEMS]:
            where = f"row {p.row}: " if p.row is not None else ""
            hint = f" Did you mean {', '.join(q(s) for s in p.suggestions)}?" if p.suggestions else ""
            lines.append(f"• {where}{q(p.typed[:80])} {esc_(p.reason)}.{hint}")
        if len(o.problems) > MAX_PROBLEMS:
            lines.append(f"… and {len(o.problems) - MAX_PROBLEMS} more")
        return "\n".join(lines)
    scope = _scope(o.channel_id, mention)
    if o.action == "list":
        if o.inventory is None:
            return (
                f"No inventory yet. Add your controls with {q(cmd + ' inventory add SC-07 amazon_guardduty')}"
                f" or import a CSV/YAML file with {q(cmd + ' inventory import')}."
            )
        inv = o.inventory
        deployed, planned = len(inv.deployed()), len(inv.planned())
        head = f"*{_cap(scope)}*: {deployed} deployed" + (f", {planned} planned" if planned else "")
        return head + "\n" + _controls(inv.controls, o.names, q)
    r = o.result
    assert r is not None
    if o.action == "clear":
        return f"Cleared {scope}: {len(r.removed)} controls removed."
    bits = []
    if r.added:
        bits.append(f"added {_few(r.added, q)}")
    if r.updated:
        bits.append(f"changed the status of {_few(r.updated, q)}")
    if r.removed:
        bits.append(f"removed {_few(r.removed, q)}")
    if r.unchanged and o.action == "add":
        bits.append(f"{_few(r.unchanged, q)} already there")
    if not bits:
        bits.append("nothing to change")
    if o.action == "import":
        total = len(r.added) + len(r.updated) + len(r.unchanged)
        return f"Imported {total} controls into {scope}: " + "; ".join(bits) + "."
    return f"{_cap(scope)}: " + "; ".join(bits) + "."


def _few(controls: tuple[Control, ...], q: Callable[[str], str], limit: int = 12) -> str:
    shown = ", ".join(
        q(c.capability_id) + (" (planned)" if c.status == "planned" else "") for c in controls[:limit]
    )
    return shown + (f" and {len(controls) - limit} more" if len(controls) > limit else "")


def inventory_mrkdwn(outcome: Outcome, *, command: str = "/attack") -> str:
    return _render(outcome, esc, lambda s: f"`{esc(s)}`", lambda _c: "this channel", command)


def inventory_plain(outcome: Outcome, *, command: str = "countermap") -> str:
    text = _render(outcome, str, str, lambda c: f"channel {c}", command)
    return text.replace("*", "")
