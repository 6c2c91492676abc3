"""A group, software or campaign as a Slack message: what it is, which controls of each framework
cover the most of its techniques, the techniques none covers, and its techniques by tactic.

Laid out as every answer is (``bot.render.blocks``: items packed into pages under Slack's
limits, the page in the buttons' state).  The state's ``expanded`` opens one of two pages of the
same answer: ``p:<technique>`` one technique's procedure text with its sources, ``fw:<framework>``
every control of that framework ranked (the "show all" of a framework's top list).
"""

from __future__ import annotations

import re
from collections.abc import Sequence
from dataclasses import dataclass
from typing import Any

from slack_sdk.models.blocks import Block, Option, StaticSelectElement

from bot import actions
from bot.labels import FRAMEWORK_LABELS, framework_label, technique_name
from bot.render.detection import COLLECT_SHOWN, collect_heading, collect_label, data_component_url
from bot.render.markers import score_bar
from bot.render.mrkdwn import clip, code, esc, link, name_text
from bot.render.pages import (
    COMPACT_MAX_BLOCKS,
    Doc,
    Item,
    LazySection,
    Message,
    Rendered,
    assemble,
    button,
    context,
    packed,
    plain,
    plain_text,
    provenance,
    release_short,
    section,
    select_menu,
)
from bot.render.state import MAX_OPTION_VALUE, State
from bot.render.threat_facts import (
    KIND_LABEL,
    TOP_CONTROLS,
    by_tactic,
    covers_text,
    filter_note,
    missing_note,
    no_framework_maps,
    threat_url,
)
from store.threat_views import FrameworkCoverage, Procedure, ThreatRef, ThreatView
from store.views import ViewRequest

PROCEDURE = "p:"  # expanded: one technique's procedure
ALL_CONTROLS = "fw:"  # expanded: every control of one framework
SUMMARY_CHARS = 700
PROCEDURE_CHUNK = 2_800
MENU_PLACEHOLDER = "Procedure…"


def _names(refs: Sequence[ThreatRef], limit: int = 8) -> str:
    shown = ", ".join(esc(r.name) for r in refs[:limit])
    return shown + (f" and {len(refs) - limit} more" if len(refs) > limit else "")


def _intro(view: ThreatView, state: State, msg: Message) -> list[Block]:
    t = view.threat
    blocks: list[Block] = []
    if view.revoked or view.deprecated:
        what = "revoked" if view.revoked else "deprecated"
        note = f":warning: *{esc(t.attack_id)} is {what} in ATT&amp;CK.*"
        accessory = None
        if view.revoked_by:
            note += f" Replaced by {code(view.revoked_by)}."
            req = ViewRequest("threat", frameworks=state.request.frameworks, threat=view.revoked_by)
            accessory = button(msg, actions.DID_YOU_MEAN, f"Show {view.revoked_by}", State(req))
        blocks.append(section(note, accessory))
    if view.summary:
        blocks.append(section(esc(clip(view.summary, SUMMARY_CHARS))))
    facts = [f"*{esc(KIND_LABEL.get(t.stix_type, t.kind.title()))}*"]
    if t.aliases:
        facts.append(f"*Also known as:* {esc(clip(', '.join(t.aliases), 400))}")
    if view.platforms:
        facts.append(f"*Platforms:* {esc(clip(', '.join(view.platforms), 300))}")
    facts.append(link(threat_url(t), "ATT&CK"))
    blocks.append(context(*facts))
    for tech in view.also_techniques[:3]:
        req = ViewRequest("technique", (tech.id,), frameworks=state.request.frameworks, domain=tech.domain)
        show = button(msg, actions.DID_YOU_MEAN, f"Show {tech.id}", State(req))
        text = f"Did you mean the technique? {code(tech.id)} {esc(name_text(tech.name))}"
        blocks.append(section(text, show))
    return blocks


def _related(view: ThreatView) -> list[str]:
    lines = []
    if view.attributed_to:
        lines.append(f"*Attributed to:* {_names(view.attributed_to)}")
    if view.software:
        lines.append(f"*Software used ({len(view.software)}):* {_names(view.software)}")
    if view.used_by:
        lines.append(f"*Used by ({len(view.used_by)}):* {_names(view.used_by)}")
    if view.campaigns:
        lines.append(f"*Campaigns ({len(view.campaigns)}):* {_names(view.campaigns)}")
    return lines


def _control_line(c: Any) -> str:
    bar = score_bar(c.best_score)
    name = f" {esc(name_text(c.name))}" if c.name and c.name != c.capability_id else ""
    return f"{code(c.capability_id)}{name} — {covers_text(c)}" + (f" · {esc(bar)}" if bar else "")


def _unmapped_line(fc: FrameworkCoverage, limit: int = 12) -> str:
    ids = ", ".join(code(t) for t in fc.unmapped[:limit])
    more = f" and {len(fc.unmapped) - limit} more" if len(fc.unmapped) > limit else ""
    return f"_No control maps {len(fc.unmapped)}:_ {ids}{more}"


def _framework_items(view: ThreatView, fc: FrameworkCoverage, state: State) -> list[Item]:
    n = len(view.technique_ids)
    title = f"*{esc(framework_label(fc.framework))} {esc(release_short(fc.release))}*{esc(filter_note(fc))}"
    if not fc.controls:
        return [LazySection(f"{title}\nNo control of this release maps any of these {n} techniques.")]
    lines = [_control_line(c) for c in fc.controls[:TOP_CONTROLS]]
    text = f"{title} — the controls covering the most of its {n} techniques\n" + "\n".join(lines)
    show_all = None
    if len(fc.controls) > TOP_CONTROLS:
        expanded = state.with_(page=1, expanded=f"{ALL_CONTROLS}{fc.framework}", compact=False)
        show_all = (actions.EXPAND, f"Show all {len(fc.controls)}", expanded)
    items: list[Item] = [LazySection(clip(text, 2900), show_all)]
    if fc.unmapped:
        items.append(LazySection(clip(_unmapped_line(fc), 2900)))
    return items


def _technique_line(p: Procedure) -> str:
    line = f"{code(p.technique_id)} {esc(name_text(technique_name(p.technique_name)))}"
    if p.revoked_id:
        line += f" _(the bundle links {esc(p.revoked_id)}, revoked)_"
    return line


_TECHNIQUE_ID = re.compile(r"T\d{4}(\.\d{3})?")
_PROBE = "T0000"  # a technique ID four characters shorter than a sub-technique's


def procedure_menu(
    msg: Message, base: State, choices: Sequence[tuple[str, str]]
) -> StaticSelectElement | None:
    """A "Procedure…" menu: one option per (technique ID, label), each opening that procedure.

    The options' states differ only in the technique: one state is encoded (and checked) with a
    probe ID, and each option's value is that text with its own ID in the probe's place."""
    template = msg.value(base.with_(expanded=f"{PROCEDURE}{_PROBE}"), MAX_OPTION_VALUE - 4)
    marker = f'"x":"{PROCEDURE}{_PROBE}"'
    if template is None or template.count(marker) != 1:
        return None
    options = [
        Option(text=plain(label, 75), value=template.replace(marker, f'"x":"{PROCEDURE}{tid}"'))
        for tid, label in choices[:100]
        if _TECHNIQUE_ID.fullmatch(tid)
    ]
    if not options:
        return None
    return StaticSelectElement(
        placeholder=plain(MENU_PLACEHOLDER, 150), action_id=msg.action_id(actions.EXPAND), options=options
    )


@dataclass(frozen=True, slots=True)
class _MenuSection(LazySection):
    """A tactic's techniques with a "Procedure…" menu, built only when its page is shown."""

    base: State | None = None
    choices: tuple[tuple[str, str], ...] = ()  # (technique ID, option label)

    def cost(self) -> tuple[int, int]:
        labels = sum(len(plain_text(label, 75)) for _, label in self.choices)
        return 1, len(self.text) + len(MENU_PLACEHOLDER) + labels

    def build(self, msg: Message) -> list[Block]:
        assert self.base is not None
        return [section(self.text, procedure_menu(msg, self.base, self.choices))]


def _technique_items(view: ThreatView, state: State) -> list[Item]:
    items: list[Item] = []
    base = state.with_(page=1, compact=False)
    items.append([section(f"*Techniques* ({len(view.technique_ids)}), by tactic — procedure on expand")])
    for tactic, procs in by_tactic(view):
        lines = [_technique_line(p) for p in procs]
        chunks = packed(f"*{esc(tactic)}* ({len(procs)})", lines)
        # The procedure menu on the tactic's first section: up to 100 of its techniques.
        choices = tuple(
            (p.technique_id, f"{p.technique_id} {name_text(technique_name(p.technique_name))}")
            for p in procs[:100]
            if p.text or p.citations
        )
        for i, chunk in enumerate(chunks):
            assert isinstance(chunk, LazySection)
            items.append(_MenuSection(chunk.text, None, base, choices) if i == 0 and choices else chunk)
    return items


def _doc(view: ThreatView, state: State, msg: Message) -> Doc:
    t = view.threat
    n = len(view.technique_ids)
    doc = Doc(title=f"{t.attack_id} {t.name}", intro=_intro(view, state, msg))
    if view.collect:
        shown = [
            f"• {link(data_component_url(c.data_component), collect_label(c))} — {c.techniques} of {c.of}"
            for c in view.collect[:COLLECT_SHOWN]
        ]
        more = len(view.collect) - COLLECT_SHOWN
        if more > 0:
            shown.append(f"… and {more} more")
        doc.items.extend(packed(f":mag: *{esc(collect_heading(view))}*", shown))
    note = missing_note(view)
    if note:
        doc.items.append([context(esc(note))])
    if not n:
        doc.items.append([section(f"ATT&amp;CK lists no techniques for {esc(t.name)}.")])
    elif no_framework_maps(view):
        asked = ", ".join(framework_label(fw) for fw in view.frameworks) or "loaded"
        doc.items.append(
            [
                section(
                    f":grey_question: *No framework maps these techniques:* no control of the "
                    f"{esc(asked)} releases maps any of its {n} techniques. Pick another framework"
                    " below."
                )
            ]
        )
    else:
        for fc in view.coverage:
            doc.items.extend(_framework_items(view, fc, state))
    if n:
        doc.items.extend(_technique_items(view, state))
    related = _related(view)
    if related:
        doc.items.append([context(*(clip(line, 1900) for line in related))])
    doc.provenance = provenance(view.provenance)
    doc.tools = _tools(view, state, msg)
    tops = [(fc.framework, fc.controls[0]) for fc in view.coverage if fc.controls]
    doc.text = f"{t.attack_id} {t.name}: {n} techniques" + "".join(
        f"; {framework_label(fw)}: {c.capability_id} {covers_text(c)}" for fw, c in tops
    )
    return doc


def _tools(view: ThreatView, state: State, msg: Message) -> list[Any]:
    base = state.with_(page=1, expanded=None, compact=False)
    tools: list[Any] = []
    if view.technique_ids:
        tools.append(button(msg, actions.EXPORT_NAVIGATOR, "Navigator layer", base))
        tools.append(button(msg, actions.EXPORT_CSV, "CSV", base))
    req = state.request
    options = [
        (
            framework_label(fw),
            base.with_(request=ViewRequest("threat", req.techniques, frameworks=(fw,), threat=req.threat)),
        )
        for fw in _other_frameworks(view)
    ]
    tools.append(select_menu(msg, actions.PICK_FRAMEWORK, "Framework…", options) if options else None)
    return tools


def _other_frameworks(view: ThreatView) -> list[str]:
    """Every framework the product knows, shown one at a time from the picker."""
    return [fw for fw in FRAMEWORK_LABELS if fw != "kev" and (fw,) != view.frameworks]


def _procedure_doc(view: ThreatView, tid: str, state: State, msg: Message) -> Doc | None:
    proc = next((p for p in view.procedures if p.technique_id == tid), None)
    if proc is None:
        return None
    t = view.threat
    name = name_text(technique_name(proc.technique_name))
    doc = Doc(title=f"{t.name} · {proc.technique_id} {name}")
    head = f"*{esc(t.name)}* uses {code(proc.technique_id)} *{esc(name)}*"
    if proc.tactics:
        head += f" · {esc(', '.join(proc.tactics))}"
    if proc.revoked_id:
        head += (
            f"\n_The bundle links {esc(proc.revoked_id)}, revoked in ATT&amp;CK; shown as its replacement._"
        )
    doc.intro.append(section(head))
    text = proc.text or "ATT&CK gives no procedure text for this use."
    for i in range(0, min(len(text), 3 * PROCEDURE_CHUNK), PROCEDURE_CHUNK):
        doc.items.append([section(esc(text[i : i + PROCEDURE_CHUNK]))])
    if proc.citations:
        refs = [
            f"• {link(c.url, clip(c.name or c.url or '', 120)) if c.url else esc(c.name)}"
            for c in proc.citations[:15]
        ]
        doc.items.extend(packed("*Sources*", refs))
    covering = []
    for fc in view.coverage:
        ids = [c.capability_id for c in fc.controls if proc.technique_id in c.techniques]
        if ids:
            more = f" and {len(ids) - 30} more" if len(ids) > 30 else ""
            shown = ", ".join(code(clip(i, 80)) for i in ids[:30])
            covering.append(f"{esc(framework_label(fc.framework))} ({len(ids)}): {shown}{more}")
    if covering:
        doc.items.extend(packed("*Controls mapping it*", covering))
    back = state.with_(expanded=None, page=1)
    req = ViewRequest(
        "technique", (proc.technique_id,), frameworks=state.request.frameworks, domain=view.domain
    )
    doc.tools = [
        button(msg, actions.COLLAPSE, "◀ Back", back),
        button(msg, actions.DID_YOU_MEAN, f"Open {proc.technique_id}", State(req)),
    ]
    doc.text = f"{t.name} uses {proc.technique_id} {technique_name(proc.technique_name)}"
    return doc


def _all_controls_doc(view: ThreatView, fw: str, state: State, msg: Message) -> Doc | None:
    fc = next((c for c in view.coverage if c.framework == fw), None)
    if fc is None:
        return None
    t = view.threat
    label = framework_label(fw)
    doc = Doc(title=f"{t.attack_id} {t.name} — every {label} control")
    doc.intro.append(
        context(
            esc(
                f"{len(fc.controls)} controls of {label} {release_short(fc.release)} map some of its "
                f"{len(view.technique_ids)} techniques, most first"
            )
        )
    )
    doc.items.extend(packed("", [_control_line(c) for c in fc.controls]))
    if fc.unmapped:
        doc.items.extend(
            packed(
                f"*No control maps these {len(fc.unmapped)}*",
                [", ".join(code(x) for x in fc.unmapped[i : i + 10]) for i in range(0, len(fc.unmapped), 10)],
            )
        )
    doc.provenance = provenance([fc.release])
    doc.tools = [button(msg, actions.COLLAPSE, "◀ Back", state.with_(expanded=None, page=1))]
    doc.text = f"{t.attack_id} {t.name}: {len(fc.controls)} {label} controls"
    return doc


def _compact_doc(view: ThreatView, state: State, msg: Message) -> Doc:
    t = view.threat
    n = len(view.technique_ids)
    kind = KIND_LABEL.get(t.stix_type, t.kind.title())
    lines = [f"*{link(threat_url(t), t.attack_id)} {esc(t.name)}* · {esc(kind)} · {n} techniques"]
    for fc in view.coverage[:4]:
        top = ", ".join(f"{code(c.capability_id)} {c.covered}/{c.of}" for c in fc.controls[:3])
        lines.append(f"*{esc(framework_label(fc.framework))}*: {top or 'no control maps these techniques'}")
    doc = Doc(title=f"{t.attack_id} {t.name}", intro=[section(clip("\n".join(lines), 2900))])
    doc.provenance = provenance(view.provenance)
    doc.text = f"{t.attack_id} {t.name}: {n} techniques"
    return doc


def render_threat(
    view: ThreatView, state: State, *, shared_by: str | None = None, notes: Sequence[str] = ()
) -> Rendered:
    """The Slack message for a threat at the page, expansion and compactness in ``state``."""
    msg = Message()
    doc: Doc | None = None
    expanded = state.expanded or ""
    if expanded.startswith(PROCEDURE):
        doc = _procedure_doc(view, expanded[len(PROCEDURE) :], state, msg)
    elif expanded.startswith(ALL_CONTROLS):
        doc = _all_controls_doc(view, expanded[len(ALL_CONTROLS) :], state, msg)
    if doc is None:
        state = state.with_(expanded=None)
        doc = _compact_doc(view, state, msg) if state.compact else _doc(view, state, msg)
    if notes and not state.expanded:
        doc.intro.insert(0, context(*(f":information_source: {esc(clip(n, 300))}" for n in notes[:3])))
    if state.compact:
        doc.intro = doc.intro[: COMPACT_MAX_BLOCKS - 4]
    return assemble(doc, state, msg, shared_by=shared_by)
