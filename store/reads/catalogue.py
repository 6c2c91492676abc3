"""What changes only with the data version: tactics, the technique catalogue, technique
headers, mitigations and sub-techniques."""

from __future__ import annotations

from collections.abc import Iterable, Sequence
from typing import Any

from store.reads.fast import Source
from store.reads.lines import summarise_description
from store.reads.releases import ReleaseInfo
from store.reads.static import static
from store.views import MitigationLine, ReleaseRef, TechniqueHeader, TechniqueRef


def tactic_names(session: Source) -> dict[tuple[str, str], tuple[int, str]]:
    return dict(static(session).tactics)


def _techniques(session: Source, ids: Iterable[str]) -> dict[str, Any]:
    """ATT&CK rows by ID (with descriptions), from the catalogue."""
    known = static(session).catalogue.techniques
    return {i: known[i] for i in dict.fromkeys(ids) if i in known}


def _family(session: Source, technique_id: str) -> tuple[dict[str, Any], list[tuple[str, str]]]:
    """(the technique and its parent by ID, as ``_techniques`` gives them; its current
    sub-techniques as (ID, name), by ID)."""
    parent = technique_id.split(".")[0]
    ids = [technique_id] if parent == technique_id else [technique_id, parent]
    return _techniques(session, ids), list(static(session).catalogue.children.get(technique_id, ()))


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
    tech = (loaded if loaded is not None else _techniques(session, [technique_id])).get(technique_id)
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


def _mitigations(session: Source, technique_id: str) -> tuple[MitigationLine, ...]:
    return static(session).catalogue.mitigations.get(technique_id, ())


def _subtechniques(session: Source, parent_ids: Sequence[str]) -> dict[str, list[tuple[str, str]]]:
    """Current sub-techniques per parent, by ID."""
    children = static(session).catalogue.children
    return {p: list(children[p]) for p in parent_ids if p in children}


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
