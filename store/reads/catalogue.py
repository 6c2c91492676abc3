"""What changes only with the data version: tactics, the technique catalogue, technique
headers, mitigations and sub-techniques."""

from __future__ import annotations

from collections import defaultdict
from collections.abc import Iterable, Sequence
from dataclasses import dataclass
from typing import Any

from sqlalchemy import bindparam, case, or_, select

from store.models import (
    Mitigation,
    MitigationLink,
    Tactic,
    Technique,
)
from store.reads.fast import Source, _json, _q
from store.reads.lines import summarise_description
from store.reads.releases import RELEASES_KEY, TACTICS_KEY, TECHNIQUES_KEY, ReleaseInfo, load_releases
from store.views import MitigationLine, ReleaseRef, TechniqueHeader, TechniqueRef

_TACTICS = select(Tactic.domain, Tactic.shortname, Tactic.name, Tactic.position)


def tactic_names(session: Source) -> dict[tuple[str, str], tuple[int, str]]:
    seeded = session.info.get(TACTICS_KEY)
    if seeded is not None:
        return dict(seeded)
    rows = _q(session, _TACTICS)
    return {(r.domain, r.shortname): (r.position, r.name) for r in rows}


_TECHNIQUE_COLS = (
    Technique.attack_id,
    Technique.name,
    Technique.domain,
    Technique.url,
    _json(Technique.tactics),
    _json(Technique.platforms),
    Technique.is_subtechnique,
    Technique.parent_attack_id,
    Technique.revoked,
    Technique.deprecated,
    Technique.revoked_by,
)


_TECHNIQUES = select(*_TECHNIQUE_COLS).where(Technique.attack_id.in_(bindparam("ids", expanding=True)))
# What grouping a control's techniques by tactic needs, for hundreds of them.
_TECHNIQUE_TACTICS = select(
    Technique.attack_id, Technique.domain, _json(Technique.tactics), Technique.revoked
).where(Technique.attack_id.in_(bindparam("ids", expanding=True)))
_TECHNIQUES_DESCRIBED = select(*_TECHNIQUE_COLS, Technique.description).where(
    Technique.attack_id.in_(bindparam("ids", expanding=True))
)


def _by_id(rows: Iterable[Any]) -> dict[str, Any]:
    out: dict[str, Any] = {}
    for t in rows:  # prefer a current object when a domain has the ID twice
        if t.attack_id not in out or (out[t.attack_id].revoked and not t.revoked):
            out[t.attack_id] = t
    return out


_CATALOGUE = select(*_TECHNIQUE_COLS, Technique.description)


@dataclass(frozen=True)
class TechniqueCatalogue:
    """Every ATT&CK technique (about a thousand rows, 1.4 MB with descriptions, a few ms to
    read), for the views' look-ups: a control's techniques by ID would otherwise be hundreds
    of rows, each read past its long description for the tactics stored after it, and every
    technique answer a select of the technique, its parent and its sub-techniques."""

    techniques: dict[str, Any]  # attack_id -> row with description, as ``_techniques`` gives them
    children: dict[str, list[tuple[str, str]]]  # parent -> current sub-techniques (ID, name), by ID
    mitigations: dict[str, tuple[MitigationLine, ...]]  # technique -> current mitigations, by ID


def technique_catalogue(session: Source) -> TechniqueCatalogue:
    seeded = session.info.get(TECHNIQUES_KEY)
    if seeded is not None:
        return seeded
    rows = _q(session, _CATALOGUE)
    children: dict[str, list[tuple[str, str]]] = defaultdict(list)
    for r in sorted(rows, key=lambda r: r.attack_id):
        if r.parent_attack_id and not r.revoked and not r.deprecated:
            children[r.parent_attack_id].append((r.attack_id, r.name))
    mitigations: dict[str, set[MitigationLine]] = defaultdict(set)
    for m in _q(session, _ALL_MITIGATIONS):
        mitigations[m.technique_attack_id].add(MitigationLine(m.attack_id, m.name, m.url))
    return TechniqueCatalogue(
        _by_id(rows),
        dict(children),
        {tid: tuple(sorted(lines, key=lambda m: m.id)) for tid, lines in mitigations.items()},
    )


def _techniques(
    session: Source, ids: Iterable[str], *, description: bool = False, tactics_only: bool = False
) -> dict[str, Any]:
    """ATT&CK rows by ID (the description, long, only when asked for; ``tactics_only``: ID,
    domain, tactics and revoked alone, or more when the catalogue is at hand)."""
    ids = list(dict.fromkeys(ids))
    if not ids:
        return {}
    catalogue = session.info.get(TECHNIQUES_KEY)
    if catalogue is not None:
        known = catalogue.techniques
        return {i: known[i] for i in ids if i in known}
    stmt = _TECHNIQUE_TACTICS if tactics_only else _TECHNIQUES_DESCRIBED if description else _TECHNIQUES
    return _by_id(_q(session, stmt, {"ids": ids}))


def static_info(session: Source) -> dict[str, Any]:
    """What changes only with the data version, for ``Source.info``: a caller that knows the
    data has not changed (the Answerer, by data version) reads it once and seeds each reader."""
    return {
        RELEASES_KEY: load_releases(session),
        TACTICS_KEY: tactic_names(session),
        TECHNIQUES_KEY: technique_catalogue(session),
    }


# A technique, its parent and its sub-techniques in one select (the description, long, for the
# technique alone): what a technique or pair answer needs of ATT&CK besides mitigations.
_FAMILY = select(
    *_TECHNIQUE_COLS,
    case((Technique.attack_id == bindparam("tid"), Technique.description)).label("description"),
).where(
    or_(
        Technique.attack_id.in_(bindparam("ids", expanding=True)),
        Technique.parent_attack_id == bindparam("tid"),
    )
)


def _family(session: Source, technique_id: str) -> tuple[dict[str, Any], list[tuple[str, str]]]:
    """(the technique and its parent by ID, as ``_techniques`` gives them; its current
    sub-techniques as (ID, name), by ID)."""
    parent = technique_id.split(".")[0]
    ids = [technique_id] if parent == technique_id else [technique_id, parent]
    catalogue = session.info.get(TECHNIQUES_KEY)
    if catalogue is not None:
        return _techniques(session, ids), list(catalogue.children.get(technique_id, ()))
    rows = _q(session, _FAMILY, {"tid": technique_id, "ids": ids})
    loaded: dict[str, Any] = {}
    subs = []
    for t in rows:
        if t.attack_id in ids:
            if t.attack_id not in loaded or (loaded[t.attack_id].revoked and not t.revoked):
                loaded[t.attack_id] = t
        elif t.parent_attack_id == technique_id and not t.revoked and not t.deprecated:
            subs.append((t.attack_id, t.name))
    subs.sort(key=lambda s: s[0])
    return loaded, subs


def _ordered_tactics(tech: Any, tactics: dict[tuple[str, str], tuple[int, str]]) -> tuple[str, ...]:
    named = [tactics.get((tech.domain, s), (99, s.replace("-", " ").title())) for s in tech.tactics or []]
    return tuple(name for _, name in sorted(named))


def technique_header(
    session: Source,
    technique_id: str,
    *,
    attack_version: str | None = None,
    fallback_name: str = "",
    domain: str | None = None,
    tactics: dict[tuple[str, str], tuple[int, str]] | None = None,
    loaded: dict[str, Any] | None = None,
) -> TechniqueHeader:
    """Header facts; ``loaded`` (rows with descriptions) saves the look-up."""
    tech = (loaded if loaded is not None else _techniques(session, [technique_id], description=True)).get(
        technique_id
    )
    if tech is None:
        dom = domain or "enterprise"
        parent_id = technique_id.split(".")[0] if "." in technique_id else None
        return TechniqueHeader(
            id=technique_id,
            name=fallback_name or technique_id,
            domain=dom,
            tactics=(),
            platforms=(),
            summary="",
            stix_url=None,
            attack_version=attack_version,
            is_subtechnique=parent_id is not None,
            parent=TechniqueRef(parent_id, parent_id, dom) if parent_id else None,
            known=False,
        )
    tactics = tactics if tactics is not None else tactic_names(session)
    related = [i for i in (tech.parent_attack_id, tech.revoked_by) if i]
    others = {i: loaded[i] for i in related if loaded is not None and i in loaded}
    missing = [i for i in related if i not in others]
    if missing:
        others.update(_techniques(session, missing))
    parent = others.get(tech.parent_attack_id or "")
    replacement = others.get(tech.revoked_by or "")
    return TechniqueHeader(
        id=tech.attack_id,
        name=tech.name,
        domain=tech.domain,
        tactics=_ordered_tactics(tech, tactics),
        platforms=tuple(tech.platforms or ()),
        summary=summarise_description(tech.description),
        stix_url=tech.url or None,
        attack_version=attack_version,
        is_subtechnique=bool(tech.is_subtechnique),
        parent=TechniqueRef(parent.attack_id, parent.name, parent.domain) if parent else None,
        revoked=bool(tech.revoked),
        deprecated=bool(tech.deprecated),
        replaced_by=(
            TechniqueRef(replacement.attack_id, replacement.name, replacement.domain)
            if replacement
            else (TechniqueRef(tech.revoked_by, tech.revoked_by, tech.domain) if tech.revoked_by else None)
        ),
    )


_MITIGATIONS = (
    select(Mitigation.attack_id, Mitigation.name, Mitigation.url)
    .join(MitigationLink, MitigationLink.mitigation_pk == Mitigation.id)
    .where(
        MitigationLink.technique_attack_id == bindparam("tid"),
        Mitigation.revoked.is_(False),
        Mitigation.deprecated.is_(False),
    )
    .distinct()
)
_ALL_MITIGATIONS = select(
    MitigationLink.technique_attack_id, Mitigation.attack_id, Mitigation.name, Mitigation.url
).where(
    MitigationLink.mitigation_pk == Mitigation.id,
    Mitigation.revoked.is_(False),
    Mitigation.deprecated.is_(False),
)


def _mitigations(session: Source, technique_id: str) -> tuple[MitigationLine, ...]:
    catalogue = session.info.get(TECHNIQUES_KEY)
    if catalogue is not None:
        return catalogue.mitigations.get(technique_id, ())
    rows = _q(session, _MITIGATIONS, {"tid": technique_id})
    return tuple(sorted((MitigationLine(r.attack_id, r.name, r.url) for r in rows), key=lambda m: m.id))


# Ordered in Python: an ORDER BY attack_id would have SQLite walk the attack_id index (the
# whole table) rather than seek the parent one.
_SUBTECHNIQUES = select(Technique.parent_attack_id, Technique.attack_id, Technique.name).where(
    Technique.parent_attack_id.in_(bindparam("parents", expanding=True)),
    Technique.revoked.is_(False),
    Technique.deprecated.is_(False),
)


def _subtechniques(session: Source, parent_ids: Sequence[str]) -> dict[str, list[tuple[str, str]]]:
    """Current sub-techniques per parent, by ID; one statement whatever the number of parents."""
    if not parent_ids:
        return {}
    catalogue = session.info.get(TECHNIQUES_KEY)
    if catalogue is not None:
        return {p: list(catalogue.children[p]) for p in parent_ids if p in catalogue.children}
    rows = sorted(_q(session, _SUBTECHNIQUES, {"parents": list(parent_ids)}), key=lambda r: r.attack_id)
    out: dict[str, list[tuple[str, str]]] = defaultdict(list)
    for r in rows:
        if r.parent_attack_id:
            out[r.parent_attack_id].append((r.attack_id, r.name))
    return out


def _other_releases(
    releases: Sequence[ReleaseInfo], counts: dict[int, int], framework: str, shown: ReleaseInfo | None
) -> tuple[tuple[ReleaseRef, int], ...]:
    return tuple(
        (i.ref, counts[i.pk])
        for i in releases
        if i.ref.framework == framework and i.pk in counts and (shown is None or i.pk != shown.pk)
    )


def _domain_of(session: Source, technique_id: str, hint: str | None) -> str:
    if hint:
        return hint
    tech = _techniques(session, [technique_id]).get(technique_id)
    return tech.domain if tech else "enterprise"


# --------------------------------------------------------------------------- technique view
