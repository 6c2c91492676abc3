"""A threat answer as terminal text (``countermap ask APT29``): the Slack answer's facts, with
every control of each framework's ranking up to a screenful and each procedure in full."""

from __future__ import annotations

from rich.console import RenderableType
from rich.padding import Padding
from rich.text import Text

from bot.labels import framework_label, technique_name
from bot.render.detection import COLLECT_SHOWN, collect_heading, collect_line
from bot.render.markers import score_bar
from bot.render.threat_facts import (
    KIND_LABEL,
    by_tactic,
    covers_text,
    filter_note,
    missing_note,
    no_framework_maps,
    threat_url,
)
from store.threat_views import ThreatView

TERMINAL_CONTROLS = 15


def threat_renderables(view: ThreatView) -> list[RenderableType]:
    t = view.threat
    n = len(view.technique_ids)
    out: list[RenderableType] = [Text(f"{t.attack_id} {t.name}", style="bold underline")]
    if view.revoked or view.deprecated:
        repl = f"; replaced by {view.revoked_by}" if view.revoked_by else ""
        out.append(Text(f"{'Revoked' if view.revoked else 'Deprecated'} in ATT&CK{repl}", style="bold red"))
    if view.summary:
        out.append(Text(view.summary))
    facts = [KIND_LABEL.get(t.stix_type, t.kind.title())]
    if t.aliases:
        facts.append("Also known as: " + ", ".join(t.aliases))
    if view.platforms:
        facts.append("Platforms: " + ", ".join(view.platforms))
    out.append(Text(" · ".join(facts), style="dim"))
    out.append(Text(threat_url(t), style="blue"))
    for tech in view.also_techniques:
        out.append(Text(f"Did you mean the technique? {tech.id} {tech.name}  (countermap ask {tech.id})"))
    if view.collect:
        out.append(Text(""))
        out.append(Text(collect_heading(view), style="bold"))
        out.extend(Text(f"  {collect_line(c)}") for c in view.collect[:COLLECT_SHOWN])
        if len(view.collect) > COLLECT_SHOWN:
            out.append(
                Text(f"  … and {len(view.collect) - COLLECT_SHOWN} more (--json has all)", style="dim")
            )
    note = missing_note(view)
    if note:
        out.append(Text(note, style="dim"))
    if not n:
        out.append(Text(f"ATT&CK lists no techniques for {t.name}."))
    elif no_framework_maps(view):
        asked = ", ".join(framework_label(fw) for fw in view.frameworks) or "loaded"
        out.append(
            Text(
                f"No framework maps these techniques: no control of the {asked} releases maps any of "
                f"its {n} techniques (try --framework).",
                style="bold",
            )
        )
    else:
        for fc in view.coverage:
            rel = fc.release
            out.append(Text(""))
            out.append(
                Text(
                    f"{framework_label(fc.framework)} {rel.framework_version} · ATT&CK {rel.attack_version}"
                    f"{filter_note(fc)} — controls covering the most of its {n} techniques",
                    style="bold",
                )
            )
            if not fc.controls:
                out.append(Text("  no control of this release maps any of them", style="dim"))
            for c in fc.controls[:TERMINAL_CONTROLS]:
                name = f"  {c.name}" if c.name and c.name != c.capability_id else ""
                line = Text.assemble((f"  {c.capability_id}", "cyan"), f"{name} — {covers_text(c)}")
                bar = score_bar(c.best_score)
                if bar:
                    line.append(f"  {bar}", style="yellow")
                out.append(line)
            if len(fc.controls) > TERMINAL_CONTROLS:
                out.append(
                    Text(f"  … and {len(fc.controls) - TERMINAL_CONTROLS} more (--json has all)", style="dim")
                )
            if fc.unmapped:
                out.append(
                    Text(f"  No control maps {len(fc.unmapped)}: " + ", ".join(fc.unmapped), style="red")
                )
    if n:
        out.append(Text(""))
        out.append(Text(f"Techniques ({n}), by tactic", style="bold"))
        for tactic, procs in by_tactic(view):
            out.append(Text(f"{tactic} ({len(procs)})", style="bold"))
            for p in procs:
                head = Text.assemble((f"  {p.technique_id}", "cyan"), f"  {technique_name(p.technique_name)}")
                if p.revoked_id:
                    head.append(f"  (the bundle links {p.revoked_id}, revoked)", style="yellow")
                out.append(head)
                if p.text:
                    out.append(Padding(Text(p.text, style="dim"), (0, 0, 0, 4), expand=False))
    related = [
        ("Attributed to", view.attributed_to),
        ("Software used", view.software),
        ("Used by", view.used_by),
        ("Campaigns", view.campaigns),
    ]
    for label, refs in related:
        if refs:
            out.append(Text(f"{label} ({len(refs)}): " + ", ".join(f"{r.attack_id} {r.name}" for r in refs)))
    return out
