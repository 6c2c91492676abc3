"""The detection answer as a Slack message: ATT&CK's detection strategies and their analytics
(platforms, the data components and log sources to collect, what to look for, what to tune),
then the capabilities whose mappings are in the detect category, with license requirements.

One analytic per item, so that the paging of ``bot.render.pages`` keeps every page within
Slack's limits; a capability's comments open with its Details (the mapping alone)."""

from __future__ import annotations

from slack_sdk.models.blocks import Block

from bot import actions
from bot.labels import framework_label
from bot.render.detection import (
    collect,
    component_label,
    components_heading,
    counts_line,
    data_component_url,
    data_components,
    no_capability_text,
    no_strategy_text,
    platforms,
    source_text,
    summary_text,
    title,
)
from bot.render.mrkdwn import clip, code, esc, excerpt, link, name_text, one_line
from bot.render.notes import note_text
from bot.render.pages import (
    Doc,
    Item,
    Message,
    button,
    context,
    packed,
    provenance,
    release_short,
    score_suffix,
    section,
    select_menu,
)
from bot.render.state import State
from bot.render.urls import attack_technique_url
from store.threat_views import AnalyticView, DetectionView, DetectSection, StrategyView
from store.views import Filters, MappingLine, ViewRequest

DESCRIPTION = 700  # characters of what an analytic looks for (the ATT&CK page has it whole)
CHANNEL = 80  # characters of a log source's channel (event IDs, a syscall, a log's name)
TUNABLE = 120  # characters of one tunable element
LICENSE = 160  # characters of a license requirement on a capability's line


def detection_request(
    technique_id: str,
    *,
    domain: str | None = None,
    frameworks: tuple[str, ...] = (),
    filters: Filters | None = None,
) -> ViewRequest:
    """The detection answer of a technique: what the Detections button of its answer opens."""
    kept = Filters(attack_version=(filters or Filters()).attack_version)
    return ViewRequest("detection", (technique_id,), frameworks=frameworks, filters=kept, domain=domain)


def _strategy_heading(s: StrategyView) -> str:
    n = len(s.analytics)
    return f"*{link(s.url, s.attack_id)} {esc(name_text(s.name))}* — {n} analytic{'s' if n != 1 else ''}"


def _analytic_texts(a: AnalyticView) -> list[str]:
    """One or two section texts (each under 3,000 characters): what to look for and what to
    collect, then what to tune when both would not fit in one."""
    where = f" · _{esc(', '.join(a.platforms))}_" if a.platforms else ""
    head = f"*{link(a.url, a.attack_id)}*{where}"
    if a.description:
        head += f"\n{esc(excerpt(a.description, DESCRIPTION))}"
    lines = []
    for c in collect(a):
        dc = link(data_component_url(c.data_component), clip(c.label, 80))
        sources = "; ".join(
            code(clip(n, 60)) + (f" {esc(clip(one_line(ch), CHANNEL))}" if ch else "")
            for n, ch in c.sources[:6]
        )
        lines.append(f"• {dc}: {sources}" if sources else f"• {dc}")
    parts = [head]
    if lines:
        parts.append("*Collect:*\n" + "\n".join(lines))
    if a.tunable:
        tune = [
            f"• {code(clip(t.field or '?', 60))}"
            + (f" — {esc(clip(one_line(t.description), TUNABLE))}" if t.description else "")
            for t in a.tunable[:10]
        ]
        parts.append("*Tune:*\n" + "\n".join(tune))
    texts = [parts[0]]
    for part in parts[1:]:
        if len(texts[-1]) + len(part) + 1 < 2900:
            texts[-1] += "\n" + part
        else:
            texts.append(part)
    return texts


def _strategy_items(s: StrategyView) -> list[Item]:
    items: list[Item] = [[section(_strategy_heading(s))]]
    for a in s.analytics:
        items.append([section(t) for t in _analytic_texts(a)])
    if not s.analytics:
        items.append([context("This strategy lists no analytic in the loaded ATT&amp;CK.")])
    return items


def _capability_line(line: MappingLine) -> str:
    text = (
        f"{code(line.capability_id_as_written or line.capability_id)} {esc(name_text(line.capability_name))}"
    )
    text += score_suffix(line)
    if line.license_requirements:
        text += f"\n      _License:_ {esc(clip(one_line(line.license_requirements), LICENSE))}"
    return text


def _section_items(sec: DetectSection) -> list[Item]:
    n = len(sec.lines)
    heading = (
        f":mag: *{esc(framework_label(sec.framework))}* {esc(release_short(sec.release))}"
        f" — {n} capabilit{'y' if n == 1 else 'ies'}"
    )
    return packed(heading, [_capability_line(ln) for ln in sec.lines])


def _intro(view: DetectionView, state: State, msg: Message) -> list[Block]:
    h = view.header
    blocks: list[Block] = []
    if (h.revoked or h.deprecated) and h.replaced_by:
        req = detection_request(h.replaced_by.id, domain=h.domain, frameworks=state.request.frameworks)
        what = "revoked" if h.revoked else "deprecated"
        note = (
            f":warning: *{esc(h.id)} is {what} in ATT&amp;CK.* Replaced by "
            f"{code(h.replaced_by.id)} {esc(h.replaced_by.name)}."
        )
        blocks.append(section(note, button(msg, actions.SWITCH, f"Detect {h.replaced_by.id}", State(req))))
    facts = []
    if h.parent:
        facts.append(f"*Sub-technique of* {code(h.parent.id)} {esc(h.parent.name)}")
    if h.tactics:
        facts.append(f"*Tactics:* {esc(', '.join(h.tactics))}")
    where = platforms(view)
    if where:
        facts.append(f"*Analytics for:* {esc(clip(', '.join(where), 300))}")
    facts.append(link(attack_technique_url(h), "ATT&CK"))
    blocks.append(context(*facts))
    overview = []
    dcs = data_components(view)
    if dcs:
        shown = " · ".join(link(data_component_url(i), n) for i, n in dcs[:25])
        more = f" and {len(dcs) - 25} more" if len(dcs) > 25 else ""
        overview.append(f"*Data to collect:* {shown}{more}")
    counts = counts_line(view)
    if counts:
        overview.append(f"*Capabilities that detect it:* {esc(counts)}")
    if overview:
        blocks.append(section(clip("\n".join(overview), 2900)))
    return blocks


def detection_doc(view: DetectionView, state: State, msg: Message) -> Doc:
    h = view.header
    doc = Doc(title=title(view), intro=_intro(view, state, msg))
    for s in view.strategies:
        doc.items.extend(_strategy_items(s))
    if view.components:
        lines = [
            f"*{esc(component_label(c.data_source_name, c.component_name))}*"
            + (f"\n{esc(c.text)}" if c.text else "")
            for c in view.components
        ]
        doc.items.extend(packed(f":mag: *{esc(components_heading(view))}*", lines))
    elif not view.strategies:
        doc.items.append([section(esc(no_strategy_text(view)))])
    for sec in view.sections:
        doc.items.extend(_section_items(sec))
    if not view.sections:
        doc.items.append([section(esc(no_capability_text(view)))])
    for note in view.notes:
        doc.items.append([context(esc(note_text(note)))])
    refs = list(view.provenance)
    doc.provenance = provenance(refs)
    if view.attack_release:
        atk = context(esc(source_text(view)))
        doc.items.append([atk])
    req = state.request
    back = ViewRequest(
        "technique",
        req.techniques,
        frameworks=req.frameworks or view.mapped,
        filters=Filters(attack_version=req.filters.attack_version),
        domain=req.domain,
    )
    details = [
        (f"{ln.capability_id} {ln.capability_name}", state.with_(expanded=ln.key, page=1))
        for sec in view.sections
        for ln in sec.lines
        if ln.comments or ln.references
    ]
    subs = [
        (f"{s.id} {s.name}", State(detection_request(s.id, domain=s.domain, frameworks=req.frameworks)))
        for s in view.subtechniques
    ]
    if h.parent:
        parent = State(detection_request(h.parent.id, domain=h.domain, frameworks=req.frameworks))
        subs.insert(0, (f"{h.parent.id} {h.parent.name} (parent)", parent))
    doc.tools = [
        button(msg, actions.SWITCH, "Controls", State(back)) if back.frameworks else None,
        button(msg, actions.EXPORT_CSV, "CSV", state.with_(page=1, expanded=None)) if view.sections else None,
        select_menu(msg, actions.EXPAND, "Capability details…", details),
        select_menu(msg, actions.SWITCH, "Sub-technique…" if not h.parent else "Related technique…", subs),
    ]
    doc.text = summary_text(view)
    return doc
