"""Views → Slack messages (Block Kit via ``slack_sdk.models.blocks``), within Slack's limits.

Every view becomes a list of *items* (small groups of blocks that belong together) that are
packed greedily into pages under a block and character budget; the page number lives in the
buttons' state, so any instance can render the next page.  Comments are never dumped: a
mapping shows a one-line excerpt and a Details button that renders that mapping alone.
All data and echoed user text is escaped here (``bot.render.mrkdwn``).
"""

from __future__ import annotations

from collections.abc import Sequence
from typing import Any

from slack_sdk.models.blocks import ActionsBlock, Block, SectionBlock

from bot import actions
from bot.labels import count_label, framework_label, group_label, release_label
from bot.render.attack_blocks import render_attack_object
from bot.render.details import detail_doc, find_line
from bot.render.detection_blocks import detection_doc, detection_request
from bot.render.export import exportable
from bot.render.markers import category_mark, cve_ranking_note, score_bar, with_feature
from bot.render.mrkdwn import (
    clip,
    code,
    described,
    esc,
    esc_user,
    excerpt,
    link,
    name_text,
    one_line,
)
from bot.render.multi_blocks import render_multi
from bot.render.notes import note_text
from bot.render.pages import (
    FALLBACK_LIMIT,
    USER_ID,
    Rendered,
)
from bot.render.pages import Doc as _Doc
from bot.render.pages import Item as _Item
from bot.render.pages import LazySection as _Section
from bot.render.pages import Message as _Message
from bot.render.pages import assemble as _assemble
from bot.render.pages import button as _button
from bot.render.pages import context as _context
from bot.render.pages import md as _md
from bot.render.pages import packed as _packed
from bot.render.pages import provenance as _provenance
from bot.render.pages import release_short as _release_short
from bot.render.pages import score_suffix as _score
from bot.render.pages import section as _section
from bot.render.pages import select_menu as _select
from bot.render.serialize import as_dict
from bot.render.state import State
from bot.render.urls import attack_technique_url, explorer_technique_url
from bot.render.users import used_by_phrase
from bot.render.users_blocks import used_by_button, used_by_line, users_doc
from store.attack_views import AttackObjectView
from store.threat_views import AnyView, DetectionView, TechniqueUsers
from store.views import (
    Alternative,
    CapabilityView,
    CompareView,
    ControlLine,
    Coverage,
    CveView,
    Filters,
    FrameworkSection,
    FrameworkView,
    GroupView,
    MappingGroup,
    MappingLine,
    MessageView,
    MultiView,
    PairView,
    TechniqueHeader,
    TechniqueView,
    View,
    ViewKind,
    ViewRequest,
    score_rank,
)

EXCERPT = 160  # characters of a comment shown before Details


# --------------------------------------------------------------------------- mapping lines


def _mapping_text(line: MappingLine, *, subject: str = "capability") -> str:
    if subject == "capability":
        shown = line.capability_id_as_written or line.capability_id
        head = f"{code(shown)} {esc(name_text(line.capability_name))}"
    else:
        head = f"{code(line.attack_id)} {esc(name_text(line.attack_name))}"
    out = f"{head}{_score(line)}"
    if line.license_requirements:
        out += f"\n_License:_ {esc(clip(one_line(line.license_requirements), 300))}"
    if line.comments:
        out += f"\n>{esc(excerpt(line.comments, EXCERPT))}"
    return out


def _has_detail(line: MappingLine) -> bool:
    return bool(line.comments or line.references or line.license_requirements)


def _group_items(
    group: MappingGroup, state: State, msg: _Message, *, subject: str = "capability"
) -> list[_Item]:
    n = len(group.lines)
    mark = category_mark(group.score_category) if group.score_category else f"*{esc(group_label(group))}*"
    heading = f"{mark}{esc(with_feature(group.feature))} ({n})"
    if not any(_has_detail(line) for line in group.lines):
        plain = [
            f"{code(ln.capability_id_as_written if subject == 'capability' else ln.attack_id)} "
            f"{esc(name_text(ln.capability_name if subject == 'capability' else ln.attack_name))}{_score(ln)}"
            for ln in group.lines
        ]
        return _packed(heading, plain)
    items: list[_Item] = [_Section(heading)]
    for line in group.lines:
        button = (actions.EXPAND, "Details", state.with_(expanded=line.key))
        items.append(_Section(clip(_mapping_text(line, subject=subject), 2900), button))
    return items


def _framework_items(sec: FrameworkSection, state: State, msg: _Message) -> list[_Item]:
    title = f"*{esc(framework_label(sec.framework))} {esc(_release_short(sec.release))}*"
    count = f"{sec.total} mapping{'s' if sec.total != 1 else ''}"
    items: list[_Item] = []
    if not sec.groups:
        note = "No mappings in this release."
        if sec.hidden:
            n = sec.hidden
            note = f"None of its {n} mapping{'s' if n != 1 else ''} match the category or score filter."
        elif sec.non_mappable:
            note = "Marked *non-mappable* in this release: no capability of this framework applies."
        if sec.other_releases:
            older = ", ".join(f"{esc(_release_short(r))} ({n})" for r, n in sec.other_releases[:4])
            note += f"\nMapped in other releases: {older}"
        return [[_section(f"{title}\n{note}")]]
    items.append([_section(f"{title} — {count}")])
    for group in sec.groups:
        items.extend(_group_items(group, state, msg))
    if sec.non_mappable:
        items.append([_context("This release also marks the technique as non-mappable.")])
    return items


def _export_tools(state: State, msg: _Message, view: View) -> list[Any]:
    """CSV and Navigator buttons, only when the view shows a mapping (never a file of headers)."""
    if not exportable(view):
        return []
    base = state.with_(page=1, expanded=None, compact=False)
    return [
        _button(msg, actions.EXPORT_CSV, "CSV", base),
        _button(msg, actions.EXPORT_NAVIGATOR, "Navigator layer", base),
    ]


# --------------------------------------------------------------------------- per view


def _technique_intro(h: TechniqueHeader, state: State, msg: _Message) -> list[Block]:
    blocks: list[Block] = []
    if h.revoked or h.deprecated:
        what = "revoked" if h.revoked else "deprecated"
        note = f":warning: *{esc(h.id)} is {what} in ATT&amp;CK.*"
        accessory = None
        if h.replaced_by:
            note += f" Replaced by {code(h.replaced_by.id)} {esc(h.replaced_by.name)}."
            req = ViewRequest("technique", (h.replaced_by.id,), frameworks=state.request.frameworks)
            accessory = _button(msg, actions.DID_YOU_MEAN, f"Show {h.replaced_by.id}", State(req))
        blocks.append(_section(note, accessory))
    if not h.known:
        blocks.append(
            _section(
                f":grey_question: {code(h.id)} is not in the loaded ATT&amp;CK; the mapping files name it."
            )
        )
    if h.summary:
        blocks.append(_section(esc(clip(h.summary, 700))))
    facts = []
    if h.parent:
        facts.append(f"*Sub-technique of* {code(h.parent.id)} {esc(h.parent.name)}")
    if h.tactics:
        facts.append(f"*Tactics:* {esc(', '.join(h.tactics))}")
    if h.platforms:
        facts.append(f"*Platforms:* {esc(clip(', '.join(h.platforms), 300))}")
    facts.append(
        f"{link(attack_technique_url(h), 'ATT&CK')} · {link(explorer_technique_url(h), 'Mappings Explorer')}"
    )
    blocks.append(_context(*facts))
    return blocks


def _technique_doc(view: TechniqueView, state: State, msg: _Message) -> _Doc:
    h = view.header
    doc = _Doc(title=f"{h.id} {h.name}", intro=_technique_intro(h, state, msg))
    if view.used_by:
        doc.intro.append(_context(used_by_line(view.used_by)))
    if view.mitigations:
        mits = " · ".join(f"{link(m.url, m.id)} {esc(m.name)}" for m in view.mitigations)
        doc.intro.append(_section(clip(f"*ATT&amp;CK mitigations:* {mits}", 2900)))
    for sec in view.sections:
        doc.items.extend(_framework_items(sec, state, msg))
    if not view.sections:
        doc.items.append([_section("No release of the frameworks asked for covers this technique's domain.")])
    if view.subtechniques:
        lines = [f"{code(s.id)} {esc(s.name)} — {s.count}" for s in view.subtechniques]
        doc.items.extend(_packed("*Sub-techniques* (mappings in the releases above)", lines))
    if view.also_mapped_in:
        also = " · ".join(f"{esc(framework_label(fw))} ({n})" for fw, n in view.also_mapped_in)
        doc.items.append([_context(clip(f"Also mapped in: {also}", 1900))])
    for note in view.notes:
        doc.items.append([_context(esc(note_text(note)))])
    doc.provenance = _provenance(view.provenance)
    base = state.with_(page=1, expanded=None)
    req = state.request
    fw_options = [
        (
            framework_label(fw),
            State(ViewRequest("technique", req.techniques, frameworks=(fw,), domain=req.domain)),
        )
        for fw in [s.framework for s in view.sections] + [fw for fw, _ in view.also_mapped_in]
    ]
    rel_options = [
        (
            f"{framework_label(sec.framework)} {_release_short(r)} ({n})",
            base.with_(
                request=ViewRequest(
                    "technique",
                    req.techniques,
                    frameworks=(sec.framework,),
                    filters=Filters(
                        framework_version=r.framework_version,
                        attack_version=r.attack_version,
                        domain=r.domain,
                    ),
                )
            ),
        )
        for sec in view.sections
        for r, n in sec.other_releases
    ]
    detect = State(detection_request(h.id, domain=h.domain, filters=req.filters)) if h.known else None
    doc.tools = [
        _button(msg, actions.SWITCH, "Detections", detect) if detect else None,
        used_by_button(h.id, state, msg) if view.used_by else None,
        *_export_tools(state, msg, view),
        _select(msg, actions.PICK_FRAMEWORK, "Framework…", fw_options) if len(fw_options) > 1 else None,
        _select(msg, actions.PICK_RELEASE, "Other release…", rel_options),
    ]
    counts = "; ".join(
        f"{framework_label(s.framework)} {s.release.framework_version}: {s.total}" for s in view.sections
    )
    doc.text = f"{h.id} {h.name} — {counts}" if counts else f"{h.id} {h.name}"
    return doc


def _capability_doc(view: CapabilityView, state: State, msg: _Message) -> _Doc:
    cap = view.capability
    doc = _Doc(title=f"{cap.id} {cap.name}")
    fam = f" · {esc(cap.group)} {esc(cap.group_name or '')}".rstrip() if cap.group else ""
    intro = f"*{esc(framework_label(cap.framework))}*{fam}"
    if view.description and one_line(view.description) != one_line(cap.name):
        intro += f"\n{described(view.description, 900)}"
    doc.intro.append(_section(intro))
    if view.release:
        counts = " · ".join(f"{esc(count_label(k))} {n}" for k, n in view.counts)
        where = esc(release_label(view.release))
        summary = f"*{view.total}* technique mapping{'s' if view.total != 1 else ''} in {where}"
        doc.intro.append(_context(clip(f"{summary}{' — ' + counts if counts else ''}", 1900)))
    if view.non_mappable:
        doc.intro.append(_context("Marked non-mappable in this release: it maps to no ATT&amp;CK technique."))
    texts: dict[int, str] = {}  # a technique in several tactics is written once
    for tg in view.tactics:
        lines = []
        for g in tg.groups:
            mark = category_mark(g.score_category) if g.score_category else esc(group_label(g))
            mark += esc(with_feature(g.feature))
            for ln in g.lines:
                text = texts.get(id(ln))
                if text is None:
                    text = texts[id(ln)] = f"{code(ln.attack_id)} {esc(ln.attack_name)} — {mark}{_score(ln)}"
                lines.append(text)
        doc.items.extend(_packed(f"*{esc(tg.tactic)}* ({tg.count})", lines))
    if view.other_releases:
        older = " · ".join(f"{esc(_release_short(r))} ({n})" for r, n in view.other_releases[:8])
        doc.items.append([_context(clip(f"Other releases: {older}", 1900))])
    for note in view.notes:
        doc.items.append([_context(esc(note_text(note)))])
    doc.provenance = _provenance(view.provenance)
    doc.tools = _export_tools(state, msg, view)
    doc.text = f"{cap.id} {cap.name} ({framework_label(cap.framework)}) — {view.total} techniques"
    return doc


def _control_text(c: ControlLine) -> str:
    mark = category_mark(c.score_category) + " " if c.score_category else ""
    return f"{mark}{code(c.capability_id)} {esc(c.name)}{_score(c)}"


def _pair_doc(view: PairView, state: State, msg: _Message) -> _Doc:
    t, cap = view.technique, view.capability
    fw = framework_label(cap.framework)
    doc = _Doc(title=f"{t.id} × {cap.id} — {t.name} / {cap.name}")
    mapped_in = [r for r in view.releases if r.lines]
    if view.mapped:
        verdict = (
            f":white_check_mark: {code(cap.id)} *{esc(cap.name)}* maps {code(t.id)} *{esc(t.name)}* in "
            f"{len(mapped_in)} of {len(view.releases)} {esc(fw)} releases."
        )
    else:
        verdict = (
            f":x: {code(cap.id)} *{esc(cap.name)}* does not map {code(t.id)} *{esc(t.name)}* in any "
            f"{esc(fw)} release{' matching the filters' if not view.filters.is_empty() else ''}."
        )
    doc.intro.append(_section(verdict))
    for pr in view.releases:
        head = f"*{esc(_release_short(pr.release))}*"
        if not pr.lines:
            doc.items.append([_section(f"{head}: not mapped")])
            continue
        for line in pr.lines:
            kind = category_mark(line.score_category) if line.score_category else esc(line.mapping_type_label)
            text = f"{head}: {kind}{esc(with_feature(line.feature))}{_score(line)}"
            if line.license_requirements:
                text += f"\n_License:_ {esc(clip(one_line(line.license_requirements), 300))}"
            if line.comments:
                text += f"\n>{esc(excerpt(line.comments, EXCERPT))}"
            detail = _has_detail(line)
            button = (actions.EXPAND, "Details", state.with_(expanded=line.key)) if detail else None
            doc.items.append(_Section(clip(text, 2900), button))
    if view.subtechniques:
        lines = [f"{code(s.id)} {esc(s.name)}" for s in view.subtechniques]
        doc.items.extend(_packed(f"*Also maps these sub-techniques of {esc(t.id)}:*", lines))
    if view.closest:
        lines = [_control_text(c) for c in view.closest]
        doc.items.extend(_packed(f"*{esc(fw)} capabilities that do map {esc(t.id)}:*", lines))
        buttons = [
            _button(
                msg,
                actions.DID_YOU_MEAN,
                f"{t.id} × {c.capability_id}",
                State(ViewRequest("pair", (t.id,), ((c.framework, c.capability_id),), filters=view.filters)),
            )
            for c in view.closest[:5]
        ]
        doc.items.append([ActionsBlock(elements=[b for b in buttons if b is not None])])
    for note in view.notes:
        doc.items.append([_context(esc(note_text(note)))])
    doc.provenance = _provenance(view.provenance[:1])
    doc.tools = _export_tools(state, msg, view)
    doc.text = (
        f"{cap.id} {cap.name} maps {t.id} {t.name} in {len(mapped_in)} of {len(view.releases)} {fw} releases"
        if view.mapped
        else f"{cap.id} {cap.name} does not map {t.id} {t.name} in any {fw} release"
    )
    return doc


def _group_doc(view: GroupView, state: State, msg: _Message) -> _Doc:
    doc = _Doc(title=f"{view.id} {view.name} ({framework_label(view.framework)})")
    where = esc(release_label(view.release)) if view.release else "no matching release"
    doc.intro.append(_context(f"{len(view.members)} capabilities, {view.total} mappings in {where}"))
    lines = [f"{code(m.id)} {esc(m.name)} — {m.count}" for m in view.members]
    doc.items.extend(_packed("*Capabilities* (mappings)", lines))
    doc.provenance = _provenance(view.provenance)
    doc.text = f"{view.id} {view.name}: {len(view.members)} capabilities"
    return doc


def _framework_doc(view: FrameworkView, state: State, msg: _Message) -> _Doc:
    label = framework_label(view.framework)
    doc = _Doc(title=f"{label} releases")
    for r in view.releases:
        ref = r.release
        types = ", ".join(f"{esc(t)} {n:,}" for t, n in r.mapping_types[:6])
        text = (
            f"*{esc(_release_short(ref))}*{' · updated ' + esc(ref.last_update) if ref.last_update else ''}\n"
            f"{r.mappings:,} mappings ({types}) · {r.non_mappable:,} non-mappable\n"
            f"{r.capabilities:,} capabilities · {r.techniques:,} techniques"
        )
        doc.items.append([_section(clip(text, 2900))])
    if not view.releases:
        doc.items.append([_section(f"No release of {esc(label)} is loaded.")])
    doc.provenance = _provenance(view.provenance[:1])
    doc.text = f"{label}: {len(view.releases)} releases"
    return doc


def _cve_doc(view: CveView, state: State, msg: _Message) -> _Doc:
    cve = view.cve
    doc = _Doc(title=f"{cve.id} {cve.name}")
    intro = f"*CISA KEV*{' · ' + esc(cve.group_name) if cve.group_name else ''}"
    if view.description and one_line(view.description) != one_line(cve.name):
        intro += f"\n{described(view.description, 900)}"
    doc.intro.append(_section(intro))
    if view.techniques:
        lines = [
            f"{code(ct.technique.id)} {esc(ct.technique.name)} — {esc(', '.join(ct.impacts))}"
            for ct in view.techniques
        ]
        doc.items.extend(_packed("*Techniques*", lines))
        comment = next((ct.comments for ct in view.techniques if ct.comments), None)
        if comment:
            doc.items.append([_section(">" + esc(excerpt(comment, 600)))])
    else:
        doc.items.append([_section("No KEV release maps this CVE to a technique.")])
    n = len(view.techniques)
    for fw, controls in view.controls:
        lines = [f"{_control_text(c)} · covers {c.count} of {n}" for c in controls]
        if lines:
            doc.items.extend(
                _packed(f"*Best {esc(framework_label(fw))} controls for these techniques*", lines)
            )
        else:
            doc.items.append([_section(f"*{esc(framework_label(fw))}*: no mappings for these techniques.")])
    if any(controls for _fw, controls in view.controls):
        doc.items.append([_context(esc(cve_ranking_note(view.exploited, n)))])
    doc.provenance = _provenance(view.provenance)
    doc.tools = _export_tools(state, msg, view)
    doc.text = f"{cve.id} {cve.name}: {len(view.techniques)} techniques"
    return doc


def _coverage_text(cov: Coverage) -> str:
    head = f"*{esc(framework_label(cov.framework))}* {esc(_release_short(cov.release))}"
    if not cov.total:
        return f"{head}\nno mappings"
    parts = []
    for key, cat in cov.categories.items():
        mark = category_mark(key) if key in ("protect", "detect", "respond") else esc(key.replace("_", " "))
        best = f" best {esc(score_bar(cat.best))}" if cat.best else ""
        parts.append(f"{mark} {cat.count}{best}")
    return clip(head + "\n" + "\n".join(parts), 1900)


def _compare_doc(view: CompareView, state: State, msg: _Message) -> _Doc:
    t = view.technique
    doc = _Doc(title=f"{t.id} {t.name} — frameworks compared")
    fields = [_md(_coverage_text(c)) for c in view.rows]
    for i in range(0, len(fields), 10):
        doc.items.append([SectionBlock(fields=fields[i : i + 10])])
    for fw, controls in view.best:
        lines = [_control_text(c) for c in controls]
        doc.items.extend(_packed(f"*Best {esc(framework_label(fw))} controls*", lines))
    if view.missing:
        miss = ", ".join(framework_label(fw) for fw in view.missing)
        doc.items.append([_context(esc(f"No {t.domain} release: {miss}"))])
    doc.provenance = _provenance(view.provenance)
    doc.tools = _export_tools(state, msg, view)
    doc.text = f"{t.id} {t.name}: " + "; ".join(
        f"{framework_label(c.framework)} {c.total}" for c in view.rows
    )
    return doc


def _alternative_state(alt: Alternative, frameworks: tuple[str, ...]) -> State | None:
    if alt.kind == "technique":
        return State(ViewRequest("technique", (alt.id,), frameworks=frameworks))
    if alt.kind == "capability" and alt.framework:
        kind: ViewKind = "cve" if alt.framework == "kev" else "capability"
        return State(ViewRequest(kind, capabilities=((alt.framework, alt.id),), frameworks=frameworks))
    if alt.kind == "group" and alt.framework:
        return State(ViewRequest("group", group=(alt.framework, alt.id)))
    if alt.kind == "framework":
        return State(ViewRequest("framework", frameworks=(alt.id,)))
    if alt.kind == "tactic" or alt.kind == "mitigation":
        return State(ViewRequest(alt.kind, frameworks=frameworks, attack_object=alt.id))
    return None


def _message_doc(view: MessageView, state: State, msg: _Message) -> _Doc:
    doc = _Doc(title=view.title)
    text = esc(view.text)
    if view.query:
        text = f"{text}\nYou asked: “{esc_user(view.query)}”"
    doc.intro.append(_section(clip(text, 2900)))
    buttons = []
    for alt in view.alternatives[:10]:
        st = _alternative_state(alt, state.request.frameworks)
        if st is not None:
            label = alt.label if alt.label.split(" ", 1)[0] == alt.id else f"{alt.id} {alt.label}"
            buttons.append(_button(msg, actions.DID_YOU_MEAN, label, st))
    kept = [b for b in buttons if b is not None]
    if kept:
        doc.intro.append(_section("*Did you mean:*"))
        doc.intro.append(ActionsBlock(elements=kept[:10]))
    doc.text = view.text
    return doc


# --------------------------------------------------------------------------- entry points


_DOCS: dict[type, Any] = {
    TechniqueView: _technique_doc,
    CapabilityView: _capability_doc,
    PairView: _pair_doc,
    GroupView: _group_doc,
    FrameworkView: _framework_doc,
    CveView: _cve_doc,
    CompareView: _compare_doc,
    MessageView: _message_doc,
    DetectionView: detection_doc,
    TechniqueUsers: users_doc,
}


def render_view(
    view: AnyView, state: State, *, shared_by: str | None = None, notes: Sequence[str] = ()
) -> Rendered:
    """The Slack message for ``view`` at the page/expansion/compactness in ``state``.
    ``notes`` (how the question was read: "T1085 was revoked; showing ...") head page 1."""
    msg = _Message()
    if isinstance(view, AttackObjectView):
        return render_attack_object(
            view, state.with_(expanded=None), msg=msg, shared_by=shared_by, notes=notes
        )
    if state.expanded:
        found = find_line(view, state.expanded)
        if found is not None:
            return _assemble(detail_doc(*found, state, msg), state.with_(page=1), msg, shared_by=shared_by)
        state = state.with_(expanded=None)
    if state.compact and isinstance(view, TechniqueView):
        return render_card(view, state, msg=msg)
    if isinstance(view, MultiView):
        sharer = shared_by if shared_by and USER_ID.match(shared_by) else None
        text, blocks = render_multi(view, state, shared_by=sharer)
        if notes:
            note = _context(*(f":information_source: {esc(clip(n, 300))}" for n in notes[:3]))
            blocks.insert(1, as_dict(note))
        return Rendered(text=text, blocks=blocks)
    doc = _DOCS[type(view)](view, state, msg)
    if notes:
        doc.intro.insert(0, _context(*(f":information_source: {esc(clip(n, 300))}" for n in notes[:3])))
    return _assemble(doc, state, msg, shared_by=shared_by)


def render_card(
    view: TechniqueView, state: State, *, msg: _Message | None = None, controls: int = 3
) -> Rendered:
    """The compact technique card: one glance per framework, the top controls, a way in."""
    msg = msg or _Message()
    h = view.header
    lines = [
        f"*{link(attack_technique_url(h), h.id)} {esc(h.name)}*"
        + (f" · {esc(', '.join(h.tactics))}" if h.tactics else "")
    ]
    if h.revoked or h.deprecated:
        repl = f" → {code(h.replaced_by.id)} {esc(h.replaced_by.name)}" if h.replaced_by else ""
        lines.append(f":warning: {'revoked' if h.revoked else 'deprecated'}{repl}")
    if view.used_by:
        lines.append(esc(used_by_phrase(view.used_by)))
    blocks: list[Block] = [_section(clip("\n".join(lines), 2900))]
    fields = []
    for sec in view.sections[:10]:
        head = f"*{esc(framework_label(sec.framework))}* {esc(sec.release.framework_version)}"
        if not sec.groups:
            fields.append(_md(f"{head}\nno mappings"))
            continue
        parts = []
        for g in sec.groups:
            mark = category_mark(g.score_category) if g.score_category else esc(group_label(g))
            mark += esc(with_feature(g.feature))
            best = max((ln.score_value for ln in g.lines if ln.score_value), key=score_rank, default=None)
            parts.append(
                f"{mark} {len(g.lines)}" + (f" {esc(score_bar(best).split(' ')[0])}" if best else "")
            )
        fields.append(_md(clip(f"{head}\n" + " · ".join(parts), 1900)))
    if fields:
        blocks.append(SectionBlock(fields=fields))
    top = _top_lines(view, controls)
    if top:
        blocks.append(_section(clip("*Top controls:* " + " · ".join(top), 2900)))
    prov = _provenance(view.provenance)
    if prov:
        blocks.append(prov)
    full = _button(
        msg, actions.PAGE, "Full answer", state.with_(compact=False, page=1, expanded=None), "primary"
    )
    req = state.request
    detect = State(detection_request(h.id, domain=h.domain, filters=req.filters)) if h.known else None
    elements = [full, _button(msg, actions.SWITCH, "Detections", detect) if detect else None]
    if any(elements):
        blocks.append(ActionsBlock(elements=[e for e in elements if e is not None]))
    counts = "; ".join(f"{framework_label(s.framework)}: {s.total}" for s in view.sections)
    text = esc(clip(f"{h.id} {h.name} — {counts}", FALLBACK_LIMIT))
    return Rendered(text=text, blocks=[as_dict(b) for b in blocks])


def _top_lines(view: TechniqueView, limit: int) -> list[str]:
    """Strongest mapping of each framework in turn, up to ``limit``; equal scores in the order
    the view gives (a card's view is ranked: ``store.reads.ranking.ranked_for_card``)."""
    queues = []
    for sec in view.sections:
        lines = sorted((ln for g in sec.groups for ln in g.lines), key=lambda ln: -score_rank(ln.score_value))
        queues.append(lines)
    out: list[str] = []
    while len(out) < limit and any(queues):
        for q in queues:
            if q and len(out) < limit:
                ln = q.pop(0)
                out.append(
                    f"{code(ln.capability_id_as_written)} {esc(name_text(ln.capability_name))}{_score(ln)}"
                )
    return out
