"""The words for what reads report as facts: a view's ``Note``s, a ``NotLoaded`` request, a
tactic's link.  ``worded`` is the answer layer's step between the read and everything after it
(the cache, Block Kit, terminal text and ``ask --json``), so every surface says the same."""

from __future__ import annotations

from collections.abc import Iterable
from dataclasses import replace

from bot.labels import OTHER_TACTIC, count_label, framework_label, group_label, release_label, technique_name
from bot.render.urls import attack_tactic_url
from store.attack_views import AttackObjectView
from store.threat_views import AnyView, DetectionView, Procedure, ThreatView
from store.views import (
    CapabilityView,
    MappingGroup,
    MessageView,
    Note,
    Notes,
    NotLoaded,
    PairView,
    TechniqueView,
)

_DOMAIN_LABEL = {"ics": "ICS"}
_FILTER_WORDS = {"category": "protect/detect/respond category", "score": "score"}


def _and(labels: Iterable[str]) -> str:
    items = list(labels)
    return items[0] if len(items) == 1 else ", ".join(items[:-1]) + " and " + items[-1]


def _plural(n: int, word: str) -> str:
    return f"{n} {word}{'s' if n != 1 else ''}"


def note_text(note: Note | str) -> str:
    """A note in words (a note already worded is returned as it is)."""
    if isinstance(note, str):
        return note
    n, fws = note.count, note.frameworks
    if note.kind == "unfiltered":
        what = " or ".join(_FILTER_WORDS[k] for k in note.others)
        return f"{framework_label(fws[0])} mappings carry no {what}: {'all ' if n != 1 else ''}{n} shown."
    if note.kind == "hidden":
        return f"{_plural(n, 'mapping')} hidden by the category or score filter."
    if note.kind == "capability_hidden":
        return f"{n} mappings hidden by the category or score filter."
    if note.kind == "detect_hidden":
        return f"{_plural(n, 'detect mapping')} below the minimum score not shown."
    if note.kind == "fell_back":
        have = "has" if len(fws) == 1 else "have"
        dom = _DOMAIN_LABEL.get(note.domain, note.domain)
        return (
            f"{_and(framework_label(fw) for fw in fws)} {have} no {dom} release; answering with the"
            f" frameworks that do: {_and(framework_label(fw) for fw in note.others)}."
        )
    if note.kind == "no_release":
        where = f"{note.domain} release" if note.domain else "release"
        return f"No {where} of {', '.join(framework_label(fw) for fw in fws)} matches the filters."
    # not_in_release
    release = release_label(note.release) if note.release is not None else "the release shown"
    return f"{note.subject} is not in {release}."


def not_loaded_view(missing: NotLoaded) -> MessageView:
    """What a user is told when a request names what the loaded data does not hold."""
    if missing.what == "technique":
        return MessageView(
            "No such technique", f"The loaded ATT&CK has no technique {missing.subject}.", kind="unknown"
        )
    if missing.what == "nothing":
        return MessageView("Nothing to show", "That request names nothing I can look up.", kind="unknown")
    return MessageView("Nothing to show", f"{missing.subject} is not in the loaded ATT&CK.", kind="unknown")


def _named(groups: tuple[MappingGroup, ...]) -> tuple[MappingGroup, ...]:
    return tuple(g if g.label else replace(g, label=group_label(g)) for g in groups)


def _named_procedure(p: Procedure) -> Procedure:
    if isinstance(p.technique_name, str):
        return p
    return replace(p, technique_name=technique_name(p.technique_name))


def _notes(view: TechniqueView | CapabilityView | PairView | DetectionView) -> Notes:
    if all(isinstance(n, str) for n in view.notes):
        return view.notes
    return tuple(note_text(n) for n in view.notes)


def worded(view: AnyView | NotLoaded) -> AnyView:
    """The view as answered: its notes, mapping groups, counts and a threat's sub-technique
    names in words, a NotLoaded as its message, a tactic with its ATT&CK link."""
    if isinstance(view, NotLoaded):
        return not_loaded_view(view)
    if isinstance(view, TechniqueView):
        sections = tuple(replace(s, groups=_named(s.groups)) for s in view.sections)
        return replace(view, notes=_notes(view), sections=sections)
    if isinstance(view, CapabilityView):
        return replace(
            view,
            notes=_notes(view),
            tactics=tuple(
                replace(t, tactic=t.tactic or OTHER_TACTIC, groups=_named(t.groups)) for t in view.tactics
            ),
            counts=tuple((count_label(k), n) for k, n in view.counts),
        )
    if isinstance(view, PairView | DetectionView):
        notes = _notes(view)
        return view if notes is view.notes else replace(view, notes=notes)
    if isinstance(view, ThreatView):
        if all(isinstance(p.technique_name, str) for p in view.procedures):
            return view
        return replace(view, procedures=tuple(_named_procedure(p) for p in view.procedures))
    if isinstance(view, AttackObjectView) and view.subject.kind == "tactic" and view.subject.url is None:
        return replace(view, subject=replace(view.subject, url=attack_tactic_url(view.subject.attack_id)))
    return view
