"""How a ``Resolution`` becomes the view it asks for: the ``ViewRequest``, the notes shown
above the answer, and the message for help and unrecognised questions."""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import replace

from bot.config import ALL_FRAMEWORKS
from bot.resolution import Resolution
from store.views import Filters, MessageView, ViewKind, ViewRequest

HELP_TEXT = (
    "Ask about an ATT&CK technique, a control, a CVE or a threat, for example:\n"
    "• T1048 — what protects against, detects or responds to it\n"
    "• SC-7 or DEF-ATH-E5 — the techniques a control maps to\n"
    "• T1048 SC-7 — does this control cover this technique?\n"
    "• CVE-2023-34362 — the techniques a known exploited CVE enables, and the best controls\n"
    "• APT29, Mimikatz or C0024 — what a group, software or campaign does, and the controls"
    " covering most of its techniques\n"
    "• compare T1048 — frameworks side by side\n"
    "• detect T1048 — ATT&CK's analytics, the logs to collect, and the capabilities that detect it\n"
    "• lateral movement or TA0008, M1037 — a tactic's or a mitigation's techniques and their coverage\n"
    "• SC family, nist — a control family, or a framework's releases\n"
    "Narrow with a framework (m365, aws, nist rev4), an ATT&CK version (attack 14.1), "
    "a category (detect) or a minimum score (significant)."
)

MULTI_EACH = 5  # techniques, and controls or CVEs, on one several-entity answer (a button state's cap)


def is_several(r: Resolution) -> bool:
    """The question names several techniques, controls or CVEs, to be answered one line each.

    A pair is one technique and one control that is not a CVE; several controls alone are a
    coverage question ("together"), answered before this; a technique that does not exist
    next to anything else gets its own line saying so."""
    if r.intent in ("unknown", "help"):
        return False
    n_tech, n_caps = len(r.techniques), len(r.capabilities)
    if n_tech + n_caps < 2:
        return False
    if n_tech == 1 and n_caps == 1:
        return r.capabilities[0].framework == "kev" or not r.techniques[0].known
    return True


def merge_filters(base: Filters, override: Filters | None) -> Filters:
    """Options given explicitly (CLI flags, modal fields) win over what the text said."""
    if override is None:
        return base
    return Filters(
        framework_version=override.framework_version or base.framework_version,
        attack_version=override.attack_version or base.attack_version,
        domain=override.domain or base.domain,
        categories=override.categories or base.categories,
        min_score=override.min_score or base.min_score,
    )


def request_for(
    resolution: Resolution, frameworks: Sequence[str], default_frameworks: Sequence[str]
) -> ViewRequest | None:
    """The view a resolution asks for (``frameworks`` when it names none, else
    ``default_frameworks``); None for help and unrecognised text."""
    r = resolution
    fws = tuple(dict.fromkeys(r.frameworks or tuple(frameworks) or default_frameworks))
    tech = tuple(t.id for t in r.techniques[:1])
    domain = r.techniques[0].domain if r.techniques else None
    caps = tuple((c.framework, c.id) for c in r.capabilities[:1])
    f = r.filters
    if is_several(r):  # never an accidental pair, never a silently dropped entity
        return ViewRequest(
            "multi",
            tuple(t.id for t in r.techniques[:MULTI_EACH]),
            tuple((c.framework, c.id) for c in r.capabilities[:MULTI_EACH]),
            frameworks=fws,
            filters=f,
        )
    if r.intent == "pair" and tech and caps:
        return ViewRequest("pair", tech, caps, filters=f, domain=domain)
    if r.intent == "compare" and tech:
        every = tuple(dict.fromkeys(r.frameworks or ALL_FRAMEWORKS))
        return ViewRequest("compare", tech, frameworks=every, filters=f, domain=domain)
    if r.intent in ("cve", "capability") and caps:
        kind: ViewKind = "cve" if caps[0][0] == "kev" else "capability"
        cve_fws = tuple(fw for fw in fws if fw != "kev") or tuple(default_frameworks)
        return ViewRequest(kind, capabilities=caps, frameworks=cve_fws if kind == "cve" else (), filters=f)
    if r.intent == "family" and r.groups:
        g = r.groups[0]
        return ViewRequest("group", group=(g.framework, g.id), filters=f)
    if r.intent == "framework" and r.frameworks:
        return ViewRequest("framework", frameworks=r.frameworks[:1], filters=f)
    if r.intent in ("actor", "software", "campaign") and r.threats:
        th = r.threats[0]  # a technique the same words name is offered as a button
        also = (th.technique,) if th.technique else ()
        return ViewRequest("threat", also, frameworks=fws, filters=f, threat=th.id)
    if r.intent in ("tactic", "mitigation") and r.attack_objects:
        o = r.attack_objects[0]
        return ViewRequest(o.kind, frameworks=fws, filters=f, domain=o.domain, attack_object=o.id)
    if r.intent == "detection" and tech:
        # Capabilities of the frameworks the question names, else of every framework; the
        # "detect" the question said is what the answer is, not a filter on it.
        plain = replace(f, categories=())
        return ViewRequest("detection", tech, frameworks=r.frameworks, filters=plain, domain=domain)
    if r.intent == "technique" and tech:
        return ViewRequest("technique", tech, frameworks=fws, filters=f, domain=domain)
    return None


def notes_for(resolution: Resolution) -> tuple[str, ...]:
    """How the question was read, for the top of the answer: the resolver's notes, and
    the techniques named beyond the one answered."""
    notes = [*resolution.notes, *(t.note for t in resolution.techniques if t.note)]
    notes.extend(c.note for c in resolution.capabilities if c.note)
    if is_several(resolution):  # a missing technique's own line says so
        said = {t.note for t in resolution.techniques if not t.known}
        notes = [n for n in notes if n not in said]
    left = [t.id for t in resolution.techniques[MULTI_EACH:]]
    left += [c.id for c in resolution.capabilities[MULTI_EACH:]]
    if is_several(resolution) and left:
        rest = ", ".join(left[:8])
        notes.append(f"Showing the first {MULTI_EACH} of each; ask separately about {rest}.")
    return tuple(dict.fromkeys(notes))


def message_for(resolution: Resolution) -> MessageView:
    """What help, empty and unrecognised questions are answered with."""
    if resolution.intent == "help" or not resolution.query.strip():
        return MessageView("How to ask", HELP_TEXT, kind="help")
    notes = " ".join(resolution.notes)
    text = "I couldn't find a technique, control, CVE or framework matching that."
    if notes:
        text += f" {notes}"
    return MessageView("No match", text, query=resolution.query, alternatives=resolution.alternatives)
