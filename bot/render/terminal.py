"""Views → terminal text with rich, for ``countermap ask``: the same facts as the Slack answer,
without pagination (a terminal scrolls) and with the comments in full."""

from __future__ import annotations

import io
import sys
from collections.abc import Iterable, Sequence
from itertools import groupby

from rich.console import Console, Group, RenderableType
from rich.padding import Padding
from rich.table import Table
from rich.text import Text

from bot.coverage.views import DiffAnswer, GapReport, PivotAnswer, TogetherAnswer
from bot.labels import count_label, framework_label, group_label, release_label
from bot.render.attack_objects import plain_text as attack_text
from bot.render.coverage import PLAIN, CoverageViews, coverage_text
from bot.render.detection import (
    collect,
    component_label,
    components_heading,
    data_components,
    no_capability_text,
    no_strategy_text,
    source_text,
)
from bot.render.detection import title as detection_title
from bot.render.markers import CATEGORY_LABEL, CATEGORY_STYLE, cve_ranking_note, score_bar, with_feature
from bot.render.mrkdwn import plain_links
from bot.render.multi import line_parts
from bot.render.multi import plain as multi_plain
from bot.render.multi import title as multi_title
from bot.render.notes import note_text
from bot.render.threat_terminal import threat_renderables
from bot.render.urls import attack_technique_url, explorer_technique_url
from bot.render.users import KIND_HEADINGS, used_by_phrase
from store.attack_views import AttackObjectView
from store.threat_views import AnyView, DetectionView, TechniqueUsers, ThreatView
from store.views import (
    CapabilityView,
    CompareView,
    ControlLine,
    CveView,
    FrameworkView,
    GroupView,
    MappingGroup,
    MappingLine,
    MessageView,
    MultiView,
    PairView,
    ReleaseRef,
    TechniqueView,
)


def _row(table: Table, *cells: str) -> None:
    """Cells as literal text: data must never be read as rich markup."""
    table.add_row(*(Text(c) for c in cells))


def _title(text: str) -> Text:
    return Text(text, style="bold underline")


def _heading(text: str) -> Text:
    return Text(text, style="bold")


def _provenance(refs: Iterable[ReleaseRef]) -> Text:
    parts = [
        release_label(r) + (f", updated {r.last_update}" if r.last_update else "")
        for r in dict.fromkeys(refs)
    ]
    return Text("Source: " + " | ".join(parts), style="dim") if parts else Text("")


def _group_label(g: MappingGroup) -> Text:
    if g.score_category:
        style = CATEGORY_STYLE.get(g.score_category, "bold")
        label = CATEGORY_LABEL.get(g.score_category, group_label(g)) + with_feature(g.feature)
        return Text(f"{label} ({len(g.lines)})", style=f"bold {style}")
    return Text(f"{group_label(g)} ({len(g.lines)})", style="bold")


def _line(line: MappingLine, *, subject: str = "capability", comments: bool = True) -> list[RenderableType]:
    ident, name = (
        (line.capability_id_as_written, line.capability_name)
        if subject == "capability"
        else (line.attack_id, line.attack_name)
    )
    head = Text.assemble((f"  {ident}", "cyan"), f"  {name}")
    bar = score_bar(line.score_value)
    if bar:
        head.append(f"  {bar}", style="yellow")
    out: list[RenderableType] = [head]
    if line.license_requirements:
        out.append(
            Padding(
                Text(f"License: {line.license_requirements}", style="magenta"), (0, 0, 0, 4), expand=False
            )
        )
    if comments and line.comments:
        out.append(Padding(Text(line.comments, style="dim"), (0, 0, 0, 4), expand=False))
    if comments and line.references:
        out.append(
            Padding(
                Text("References: " + " ".join(line.references), style="dim blue"), (0, 0, 0, 4), expand=False
            )
        )
    return out


def _technique(view: TechniqueView) -> list[RenderableType]:
    h = view.header
    out: list[RenderableType] = [_title(f"{h.id} {h.name}")]
    if h.revoked or h.deprecated:
        repl = f"; replaced by {h.replaced_by.id} {h.replaced_by.name}" if h.replaced_by else ""
        out.append(Text(f"{'Revoked' if h.revoked else 'Deprecated'} in ATT&CK{repl}", style="bold red"))
    if h.summary:
        out.append(Text(h.summary))
    facts = []
    if h.parent:
        facts.append(f"Sub-technique of {h.parent.id} {h.parent.name}")
    if h.tactics:
        facts.append("Tactics: " + ", ".join(h.tactics))
    if h.platforms:
        facts.append("Platforms: " + ", ".join(h.platforms))
    out.append(Text(" · ".join(facts), style="dim"))
    if view.used_by:
        out.append(Text(used_by_phrase(view.used_by)))
    out.append(Text(f"{attack_technique_url(h)}\n{explorer_technique_url(h)}", style="blue"))
    if view.mitigations:
        out.append(_heading("ATT&CK mitigations"))
        out.extend(Text(f"  {m.id}  {m.name}") for m in view.mitigations)
    for sec in view.sections:
        out.append(Text(""))
        out.append(
            _heading(
                f"{framework_label(sec.framework)} {sec.release.framework_version} · "
                f"ATT&CK {sec.release.attack_version} — "
                + (
                    f"{sec.total} of {sec.total + sec.hidden} mappings match"
                    if sec.hidden
                    else f"{sec.total} mappings"
                )
            )
        )
        if not sec.groups:
            empty = "non-mappable in this release" if sec.non_mappable else "no mappings"
            if sec.hidden:
                empty = "none match the category or score filter"
            out.append(Text(f"  {empty}", style="dim"))
        for g in sec.groups:
            out.append(_group_label(g))
            for line in g.lines:
                out.extend(_line(line))
        if sec.other_releases:
            others = ", ".join(
                f"{r.framework_version} @ {r.attack_version} ({n})" for r, n in sec.other_releases
            )
            out.append(Text(f"  Other releases: {others}", style="dim"))
    if view.subtechniques:
        out.append(Text(""))
        table = Table("Sub-technique", "Name", "Mappings", title=None, box=None, header_style="bold")
        for s in view.subtechniques:
            _row(table, s.id, s.name, str(s.count))
        out.append(table)
    if view.also_mapped_in:
        also = ", ".join(f"{framework_label(fw)} ({n})" for fw, n in view.also_mapped_in)
        out.append(Text(f"Also mapped in: {also}", style="dim"))
    out.extend(Text(note_text(n), style="dim italic") for n in view.notes)
    return out


def _detection(view: DetectionView) -> list[RenderableType]:
    h = view.header
    out: list[RenderableType] = [_title(detection_title(view))]
    if h.revoked or h.deprecated:
        repl = (
            f"; replaced by {h.replaced_by.id} {h.replaced_by.name} (ask: detect {h.replaced_by.id})"
            if h.replaced_by
            else ""
        )
        out.append(Text(f"{'Revoked' if h.revoked else 'Deprecated'} in ATT&CK{repl}", style="bold red"))
    facts = []
    if h.parent:
        facts.append(f"Sub-technique of {h.parent.id} {h.parent.name}")
    if h.tactics:
        facts.append("Tactics: " + ", ".join(h.tactics))
    out.append(Text(" · ".join(facts), style="dim"))
    out.append(Text(attack_technique_url(h), style="blue"))
    dcs = data_components(view)
    if dcs:
        out.append(Text("Data to collect: " + ", ".join(f"{n} ({i})" if i else n for i, n in dcs)))
    for s in view.strategies:
        out.append(Text(""))
        out.append(
            _heading(
                f"{s.attack_id} {s.name} — {len(s.analytics)} analytic{'s' if len(s.analytics) != 1 else ''}"
            )
        )
        if s.url:
            out.append(Text(s.url, style="blue"))
        for a in s.analytics:
            out.append(Text(""))
            head = Text.assemble((f"  {a.attack_id}", "cyan"), f"  {', '.join(a.platforms)}")
            out.append(head)
            if a.description:
                out.append(Padding(Text(a.description), (0, 0, 0, 4)))
            for c in collect(a):
                where = f" ({c.data_component})" if c.data_component and c.name else ""
                out.append(Text(f"    Collect {c.label}{where}:", style="bold"))
                for name, channel in c.sources:
                    out.append(Text(f"      {name}" + (f"  {channel}" if channel else "")))
            if a.tunable:
                out.append(Text("    Tune:", style="bold"))
                for t in a.tunable:
                    out.append(
                        Text(f"      {t.field or '?'}" + (f" — {t.description}" if t.description else ""))
                    )
    if view.components:
        out.append(Text(""))
        out.append(_heading(components_heading(view)))
        for dc in view.components:
            out.append(Text(f"  {component_label(dc.data_source_name, dc.component_name)}", style="bold"))
            if dc.text:
                out.append(Padding(Text(dc.text), (0, 0, 0, 4)))
    elif not view.strategies:
        out.append(Text(no_strategy_text(view), style="dim"))
    for sec in view.sections:
        out.append(Text(""))
        out.append(
            _heading(
                f"{framework_label(sec.framework)} {sec.release.framework_version} · "
                f"ATT&CK {sec.release.attack_version} — {len(sec.lines)} capabilities detect it"
            )
        )
        for line in sec.lines:
            out.extend(_line(line))
    if not view.sections:
        out.append(Text(""))
        out.append(Text(no_capability_text(view), style="dim"))
    out.extend(Text(note_text(n), style="dim italic") for n in view.notes)
    if view.attack_release:
        out.append(Text(source_text(view), style="dim"))
    return out


def _users(view: TechniqueUsers) -> list[RenderableType]:
    out: list[RenderableType] = [_title(f"Who uses {view.technique_id} {view.technique_name}")]
    if not view.users:
        out.append(Text(f"No group, software or campaign in the loaded ATT&CK uses {view.technique_id}."))
    for kind, members in groupby(view.users, key=lambda u: u.kind):
        listed = list(members)
        out.append(Text(""))
        out.append(_heading(f"{KIND_HEADINGS.get(kind, kind)} ({len(listed)})"))
        for u in listed:
            via = f"  (as {u.via}, revoked)" if u.via else ""
            out.append(Text.assemble((f"  {u.attack_id}", "cyan"), f"  {u.name}{via}"))
            if u.procedure:
                out.append(Padding(Text(plain_links(u.procedure), style="dim"), (0, 0, 0, 4), expand=False))
    return out


def _capability(view: CapabilityView) -> list[RenderableType]:
    cap = view.capability
    out: list[RenderableType] = [_title(f"{cap.id} {cap.name}")]
    out.append(
        Text(
            f"{framework_label(cap.framework)}"
            + (f" · {cap.group} {cap.group_name or ''}" if cap.group else "")
        )
    )
    if view.description:
        out.append(Text(plain_links(view.description)))
    counts = ", ".join(f"{count_label(k)} {n}" for k, n in view.counts)
    out.append(Text(f"{view.total} technique mappings" + (f" ({counts})" if counts else ""), style="dim"))
    for tg in view.tactics:
        out.append(_heading(f"{tg.tactic} ({tg.count})"))
        for g in tg.groups:
            for line in g.lines:
                lab = CATEGORY_LABEL.get(line.score_category or "", line.mapping_type_label)
                out.append(
                    Text.assemble(
                        (f"  {line.attack_id}", "cyan"),
                        f"  {line.attack_name}  ",
                        (f"{lab} {score_bar(line.score_value)}".strip(), "yellow"),
                        (with_feature(line.feature), "yellow"),
                    )
                )
    out.extend(Text(note_text(n), style="dim italic") for n in view.notes)
    return out


def _control(c: ControlLine, *, covers: str = "") -> Text:
    lab = CATEGORY_LABEL.get(c.score_category or "", "")
    return Text.assemble(
        (f"  {c.capability_id}", "cyan"),
        f"  {c.name}  ",
        (f"{lab} {score_bar(c.score_value)}".strip(), "yellow"),
        (f"  {covers}" if covers else "", "dim"),
    )


def _pair(view: PairView) -> list[RenderableType]:
    t, cap = view.technique, view.capability
    out: list[RenderableType] = [_title(f"{t.id} {t.name} × {cap.id} {cap.name}")]
    if view.mapped:
        n = sum(1 for r in view.releases if r.lines)
        out.append(
            Text(
                f"{cap.id} maps {t.id} in {n} of {len(view.releases)} "
                f"{framework_label(cap.framework)} releases.",
                style="bold green",
            )
        )
    else:
        out.append(
            Text(
                f"{cap.id} does not map {t.id} in any {framework_label(cap.framework)} release.",
                style="bold red",
            )
        )
    for pr in view.releases:
        rel = f"{pr.release.framework_version} · ATT&CK {pr.release.attack_version}"
        if not pr.lines:
            out.append(Text(f"  {rel}: not mapped", style="dim"))
        for line in pr.lines:
            lab = CATEGORY_LABEL.get(line.score_category or "", line.mapping_type_label)
            out.append(
                Text(f"  {rel}: {lab} {score_bar(line.score_value)}".rstrip() + with_feature(line.feature))
            )
            out.extend(_line(line)[1:])
    if view.subtechniques:
        out.append(_heading("Also maps sub-techniques"))
        out.extend(Text(f"  {s.id}  {s.name}") for s in view.subtechniques)
    if view.closest:
        out.append(_heading(f"{framework_label(cap.framework)} capabilities that do map {t.id}"))
        out.extend(_control(c) for c in view.closest)
    return out


def _cve(view: CveView) -> list[RenderableType]:
    out: list[RenderableType] = [_title(f"{view.cve.id} {view.cve.name}")]
    if view.description:
        out.append(Text(plain_links(view.description)))
    out.append(_heading("Techniques"))
    for ct in view.techniques:
        out.append(Text(f"  {ct.technique.id}  {ct.technique.name} — {', '.join(ct.impacts)}"))
    n = len(view.techniques)
    for fw, controls in view.controls:
        out.append(_heading(f"Best {framework_label(fw)} controls (techniques covered of {n})"))
        out.extend(_control(c, covers=f"{c.count}/{n}") for c in controls)
        if not controls:
            out.append(Text("  none", style="dim"))
    if any(controls for _fw, controls in view.controls):
        out.append(Text(cve_ranking_note(view.exploited, n), style="dim italic"))
    return out


def _compare(view: CompareView) -> list[RenderableType]:
    t = view.technique
    table = Table("Framework", "Release", "Mappings", "By category / type", header_style="bold")
    for cov in view.rows:
        cats = ", ".join(
            f"{CATEGORY_LABEL.get(k, k)} {c.count}" + (f" (best {c.best})" if c.best else "")
            for k, c in cov.categories.items()
        )
        _row(
            table,
            framework_label(cov.framework),
            f"{cov.release.framework_version} · ATT&CK {cov.release.attack_version}",
            str(cov.total),
            cats,
        )
    out: list[RenderableType] = [_title(f"{t.id} {t.name} — frameworks compared"), table]
    for fw, controls in view.best:
        out.append(_heading(f"Best {framework_label(fw)} controls"))
        out.extend(_control(c) for c in controls)
    if view.missing:
        out.append(
            Text("No release for: " + ", ".join(framework_label(f) for f in view.missing), style="dim")
        )
    return out


def _group(view: GroupView) -> list[RenderableType]:
    table = Table("Capability", "Name", "Mappings", header_style="bold", box=None)
    for m in view.members:
        _row(table, m.id, m.name, str(m.count))
    return [_title(f"{view.id} {view.name} ({framework_label(view.framework)})"), table]


def _framework(view: FrameworkView) -> list[RenderableType]:
    table = Table(
        "Release",
        "Domain",
        "Updated",
        "Mappings",
        "Non-mappable",
        "Capabilities",
        "Techniques",
        header_style="bold",
    )
    for r in view.releases:
        _row(
            table,
            f"{r.release.framework_version} · ATT&CK {r.release.attack_version}",
            r.release.domain,
            r.release.last_update or "",
            f"{r.mappings:,}",
            f"{r.non_mappable:,}",
            f"{r.capabilities:,}",
            f"{r.techniques:,}",
        )
    return [_title(f"{framework_label(view.framework)} releases"), table]


def _message(view: MessageView) -> list[RenderableType]:
    out: list[RenderableType] = [_title(view.title), Text(view.text)]
    if view.alternatives:
        out.append(_heading("Did you mean:"))
        for alt in view.alternatives:
            q = alt.query or alt.id
            label = alt.label if alt.label.split(" ", 1)[0] == alt.id else f"{alt.id}  {alt.label}"
            out.append(Text(f"  {label}   (countermap ask {q!r})"))
    return out


def _multi(view: MultiView) -> list[RenderableType]:
    out: list[RenderableType] = [_title(multi_title(view))]
    for e in view.entries:
        style = "" if e.known else "bold red"
        out.append(Text("• " + multi_plain(line_parts(e, view)), style=style))
    return out


def _notes(notes: Sequence[str]) -> list[RenderableType]:
    """How the question was read, as Slack shows it above the answer."""
    return [Text(f"ℹ {n}", style="italic") for n in notes]


def renderable(view: AnyView | CoverageViews | list[DiffAnswer], notes: Sequence[str] = ()) -> RenderableType:
    if isinstance(view, GapReport | PivotAnswer | TogetherAnswer | DiffAnswer | list):
        return Group(*_notes(notes), Text(coverage_text(view)))
    if isinstance(view, AttackObjectView):
        found: list[RenderableType] = [Text(attack_text(view, PLAIN))]
        if view.provenance:
            found += [Text(""), _provenance(view.provenance)]
        return Group(*_notes(notes), *found)
    if isinstance(view, ThreatView):
        parts = threat_renderables(view)
    elif isinstance(view, MultiView):
        parts = _multi(view)
    elif isinstance(view, TechniqueView):
        parts = _technique(view)
    elif isinstance(view, DetectionView):
        parts = _detection(view)
    elif isinstance(view, TechniqueUsers):
        parts = _users(view)
    elif isinstance(view, CapabilityView):
        parts = _capability(view)
    elif isinstance(view, PairView):
        parts = _pair(view)
    elif isinstance(view, CveView):
        parts = _cve(view)
    elif isinstance(view, CompareView):
        parts = _compare(view)
    elif isinstance(view, GroupView):
        parts = _group(view)
    elif isinstance(view, FrameworkView):
        parts = _framework(view)
    else:
        parts = _message(view)
    prov = view.provenance
    if isinstance(view, PairView | FrameworkView):
        prov = prov[:1]  # one line per release would repeat the framework many times
    if prov:
        parts.append(Text(""))
        parts.append(_provenance(prov))
    return Group(*_notes(notes), *parts)


# Piped output (a file, grep, a ticket) is not wrapped: one line of text stays one line.
UNWRAPPED_WIDTH = 10_000


def print_view(
    view: AnyView | CoverageViews | list[DiffAnswer],
    console: Console | None = None,
    *,
    notes: Sequence[str] = (),
) -> None:
    """Print to a terminal at its width; anywhere else unwrapped, without the padding spaces.
    ``notes``: how the question was read (the notes Slack shows above the answer)."""
    if console is None and not sys.stdout.isatty():
        console = Console(highlight=False, width=UNWRAPPED_WIDTH, file=io.StringIO())
        console.print(renderable(view, notes))
        out = console.file.getvalue()  # type: ignore[attr-defined]
        sys.stdout.write("".join(line.rstrip() + "\n" for line in out.splitlines()))
        return
    (console or Console(highlight=False)).print(renderable(view, notes))


__all__ = ["print_view", "renderable"]
