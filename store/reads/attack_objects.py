"""ATT&CK tactics and mitigations as answers: the techniques each gathers, and per framework
how many of them its controls map, with the controls that map the most.

``tactic_view(source, "TA0010")`` and ``mitigation_view(source, "M1037")`` answer for an ID
the data holds and return None otherwise.  The techniques come from the static catalogue (no
select per technique); the coverage is one select over the mapping rows of those techniques in
the chosen releases.
"""

from __future__ import annotations

from collections import defaultdict
from collections.abc import Sequence
from typing import Any

from sqlalchemy import select

from store.attack_views import (
    AttackObjectRef,
    AttackObjectView,
    BestControl,
    FrameworkSpread,
    TechniqueControls,
)
from store.models import Mapping, Mitigation, MitigationLink, Tactic
from store.reads.fast import Source, _q, reader
from store.reads.lines import _ids, summarise_description
from store.reads.releases import NO_FILTERS, pick_releases
from store.reads.static import static
from store.views import SCORE_CATEGORIES, Filters, TechniqueRef, score_rank

__all__ = ["attack_object_techniques", "attack_object_view", "mitigation_view", "tactic_view"]

BEST_CONTROLS = 5  # per framework, the controls mapping the most of the techniques
CONTROLS_PER_TECHNIQUE = 3  # per technique and framework
_DOMAIN_ORDER = {"enterprise": 0, "mobile": 1, "ics": 2}

_TACTIC = select(Tactic.attack_id, Tactic.shortname, Tactic.name, Tactic.domain).where(
    Tactic.attack_id.in_(_ids("ids"))
)
_MITIGATION = select(
    Mitigation.id, Mitigation.attack_id, Mitigation.name, Mitigation.domain, Mitigation.url,
    Mitigation.description, Mitigation.revoked, Mitigation.deprecated,
).where(Mitigation.attack_id.in_(_ids("ids")))  # fmt: skip
_MITIGATED = select(MitigationLink.technique_attack_id).where(MitigationLink.mitigation_pk.in_(_ids("pks")))
_ROWS = select(
    Mapping.release_id,
    Mapping.capability_id,
    Mapping.capability_name,
    Mapping.attack_id,
    Mapping.score_category,
    Mapping.score_value,
    Mapping.status,
).where(Mapping.attack_id.in_(_ids("tids")), Mapping.release_id.in_(_ids("pks")))


def _preferred(rows: Sequence[Any], domain: str | None) -> Any:
    """The row in the asked domain, else enterprise, then mobile, then ICS; current first."""
    return min(
        rows,
        key=lambda r: (
            bool(getattr(r, "revoked", False) or getattr(r, "deprecated", False)),
            r.domain != domain if domain else False,
            _DOMAIN_ORDER.get(r.domain, 9),
        ),
    )


def _tactic(source: Source, attack_id: str, domain: str | None) -> tuple[AttackObjectRef, list[str]] | None:
    rows = _q(source, _TACTIC, {"ids": [attack_id.upper()]})
    if not rows:
        return None
    t = _preferred(rows, domain)
    members = sorted(
        r.attack_id
        for r in static(source).catalogue.techniques.values()
        if r.domain == t.domain and not r.revoked and not r.deprecated and t.shortname in (r.tactics or ())
    )
    # The data has no link for a tactic: bot.render.urls gives its attack.mitre.org page.
    return AttackObjectRef("tactic", t.attack_id, t.name, t.domain, None, t.shortname), members


def _mitigation(
    source: Source, attack_id: str, domain: str | None
) -> tuple[AttackObjectRef, list[str], str] | None:
    rows = _q(source, _MITIGATION, {"ids": [attack_id.upper()]})
    if not rows:
        return None
    m = _preferred(rows, domain)
    same = [r.id for r in rows if r.domain == m.domain]
    catalogue = static(source).catalogue.techniques
    linked = {r.technique_attack_id for r in _q(source, _MITIGATED, {"pks": same})}
    members = sorted(
        tid
        for tid in linked
        if (row := catalogue.get(tid)) is not None and not row.revoked and not row.deprecated
    )
    ref = AttackObjectRef("mitigation", m.attack_id, m.name, m.domain, m.url)
    return ref, members, summarise_description(m.description)


def attack_object_techniques(
    source: Source, attack_id: str, domain: str | None = None
) -> tuple[AttackObjectRef, list[str]] | None:
    """A tactic's (TA ID) or a mitigation's (M ID) current techniques, sub-techniques included."""
    source = reader(source)
    if attack_id.upper().startswith("TA"):
        return _tactic(source, attack_id, domain)
    found = _mitigation(source, attack_id, domain)
    return (found[0], found[1]) if found is not None else None


def tactic_view(
    source: Source, attack_id: str, *, frameworks: Sequence[str], filters: Filters = NO_FILTERS
) -> AttackObjectView | None:
    """A tactic's current techniques (parents with their sub-technique counts) and, per
    framework, how many of them and of their sub-techniques its controls map."""
    source = reader(source)
    found = _tactic(source, attack_id, filters.domain)
    if found is None:
        return None
    ref, members = found
    children = static(source).catalogue.children
    parents = [tid for tid in members if "." not in tid or tid.split(".")[0] not in members]
    subs = {p: len([c for c, _ in children.get(p, ()) if c in members]) for p in parents}
    return _view(source, ref, "", members, parents, subs, frameworks, filters)


def mitigation_view(
    source: Source, attack_id: str, *, frameworks: Sequence[str], filters: Filters = NO_FILTERS
) -> AttackObjectView | None:
    """A mitigation's techniques and, per technique and framework, the controls mapping it."""
    source = reader(source)
    found = _mitigation(source, attack_id, filters.domain)
    if found is None:
        return None
    ref, members, summary = found
    return _view(source, ref, summary, members, members, {}, frameworks, filters)


def attack_object_view(
    source: Source, attack_id: str, *, frameworks: Sequence[str], filters: Filters = NO_FILTERS
) -> AttackObjectView | None:
    """``tactic_view`` for a TA ID, ``mitigation_view`` for an M ID."""
    if attack_id.upper().startswith("TA"):
        return tactic_view(source, attack_id, frameworks=frameworks, filters=filters)
    return mitigation_view(source, attack_id, frameworks=frameworks, filters=filters)


def _view(
    source: Source,
    ref: AttackObjectRef,
    summary: str,
    members: list[str],
    shown: list[str],
    subs: dict[str, int],
    frameworks: Sequence[str],
    filters: Filters,
) -> AttackObjectView:
    wanted = list(dict.fromkeys(frameworks))
    chosen = pick_releases(static(source).releases, wanted, filters, ref.domain)
    per = _controls(source, members, {info.pk: fw for fw, info in chosen.items()}, filters)
    coverage = []
    by_technique: dict[str, dict[str, list[str]]] = defaultdict(dict)
    for fw, info in chosen.items():
        caps = per.get(fw, {})
        order = sorted(caps.items(), key=lambda kv: (-len(kv[1][1]), -kv[1][2], kv[0]))
        mapped = {t for _, s in order for t in s[1]}
        best = tuple(
            BestControl(cid, (s[0] or cid).strip(), len(s[1]), s[3]) for cid, s in order[:BEST_CONTROLS]
        )
        unmapped = tuple(t for t in members if t not in mapped)
        coverage.append(FrameworkSpread(fw, info.ref, len(mapped), len(members), best, unmapped))
        for cid, s in order:  # a technique's controls in the framework's ranking
            for tid in s[1]:
                found = by_technique[tid].setdefault(fw, [])
                if len(found) < CONTROLS_PER_TECHNIQUE:
                    found.append(cid)
    names = static(source).catalogue.techniques
    techniques = tuple(
        TechniqueControls(
            TechniqueRef(tid, names[tid].name if tid in names else tid, ref.domain),
            tuple((fw, tuple(by_technique[tid][fw])) for fw in chosen if fw in by_technique.get(tid, {})),
            subs.get(tid, 0),
        )
        for tid in shown
    )
    return AttackObjectView(
        subject=ref,
        summary=summary,
        techniques=techniques,
        coverage=tuple(coverage),
        frameworks=tuple(wanted),
        filters=filters,
        missing_frameworks=tuple(fw for fw in wanted if fw not in chosen),
        members=tuple(members),
    )


def _controls(
    source: Source, members: list[str], pks: dict[int, str], filters: Filters
) -> dict[str, dict[str, list[Any]]]:
    """framework -> capability -> [name, technique IDs, best score rank, best score].

    A category or minimum score narrows the rows that carry one; rows of frameworks that score
    nothing (NIST) stay, as every answer treats them."""
    if not members or not pks:
        return {}
    floor = score_rank(filters.min_score) if filters.min_score else 0
    cats = set(filters.categories) & set(SCORE_CATEGORIES)
    per: dict[str, dict[str, list[Any]]] = defaultdict(dict)
    for release_id, cid, name, tid, category, score, status in _q(
        source, _ROWS, {"tids": members, "pks": list(pks)}
    ):
        if status == "non_mappable" or not cid:
            continue
        if floor and score and score_rank(score) < floor:
            continue
        if cats and category and category not in cats:
            continue
        caps = per[pks[release_id]]
        slot = caps.get(cid)
        if slot is None:
            slot = caps[cid] = [name, set(), -1, None]
        slot[1].add(tid)
        rank = score_rank(score)
        if rank > slot[2]:
            slot[2], slot[3] = rank, score
    return per
