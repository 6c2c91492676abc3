"""Which controls map which techniques, release by release: the facts behind coverage, gaps,
pivots ("SC-07 in aws") and diffs ("T1048 rev4 vs rev5").

Only complete mapping rows count (non-mappable rows name no pair).  A mapping covers exactly the
technique or sub-technique it names.
"""

from __future__ import annotations

import re
from collections import defaultdict
from collections.abc import Collection, Iterable, Sequence

from sqlalchemy import func, or_, select
from sqlalchemy.orm import Session

from store.coverage_views import ControlTechniques, MappingFact, ReleaseFacts, TacticFacts
from store.models import Capability, Mapping, Release, Tactic, Technique
from store.reads.releases import version_key

_CHUNK = 500  # IN-list size: far below SQLite's parameter limit, one round trip per chunk


def release_order(r: ReleaseFacts) -> tuple[tuple[int, ...], tuple[int, ...]]:
    """Newest first when sorted descending: ATT&CK version, then the framework's own version."""
    return (tuple(int(n) for n in re.findall(r"\d+", r.attack_version)), version_key(r.framework_version))


def all_releases(session: Session) -> list[ReleaseFacts]:
    """Every release, newest first."""
    rows = session.execute(
        select(
            Release.id, Release.framework, Release.framework_version, Release.attack_version, Release.domain
        )
    ).all()
    out = [ReleaseFacts(*row) for row in rows]
    out.sort(key=release_order, reverse=True)
    return out


def newest_releases(
    releases: Sequence[ReleaseFacts],
    frameworks: Iterable[str],
    domain: str,
    *,
    framework_version: str | None = None,
    attack_version: str | None = None,
) -> dict[str, ReleaseFacts]:
    """The newest release per framework in ``domain`` (optionally of one version)."""
    wanted = set(frameworks)
    chosen: dict[str, ReleaseFacts] = {}
    for r in releases:
        if r.framework not in wanted or r.framework in chosen or r.domain != domain:
            continue
        if framework_version and r.framework_version.lower() != framework_version.lower():
            continue
        if attack_version and r.attack_version != attack_version:
            continue
        chosen[r.framework] = r
    return chosen


def _complete(stmt):  # type: ignore[no-untyped-def]
    return stmt.where(
        Mapping.attack_id.is_not(None),
        Mapping.capability_id.is_not(None),
        or_(Mapping.status.is_(None), Mapping.status != "non_mappable"),
    )


def controls_mapping(
    session: Session, release_pks: Collection[int], technique_ids: Collection[str] | None = None
) -> list[ControlTechniques]:
    """Every control of these releases with the techniques it maps (only those in
    ``technique_ids`` when given), controls that map none of them left out."""
    if not release_pks:
        return []
    base = _complete(
        select(Mapping.framework, Mapping.capability_id, Mapping.attack_id).where(
            Mapping.release_id.in_(list(release_pks))
        )
    )
    rows: list[tuple[str, str, str]] = []
    if technique_ids is None:
        rows = [(r[0], r[1], r[2]) for r in session.execute(base).all()]
    else:
        ids = sorted(set(technique_ids))
        for start in range(0, len(ids), _CHUNK):
            chunk = ids[start : start + _CHUNK]
            rows.extend(
                (r[0], r[1], r[2]) for r in session.execute(base.where(Mapping.attack_id.in_(chunk))).all()
            )
    grouped: dict[tuple[str, str], set[str]] = defaultdict(set)
    for fw, cid, tid in rows:
        grouped[(fw, cid)].add(tid)
    names = control_names(session, grouped)
    return [
        ControlTechniques(fw, cid, names.get((fw, cid), ""), frozenset(tids))
        for (fw, cid), tids in sorted(grouped.items())
    ]


def control_names(session: Session, keys: Iterable[tuple[str, str]]) -> dict[tuple[str, str], str]:
    by_fw: dict[str, list[str]] = defaultdict(list)
    for fw, cid in keys:
        by_fw[fw].append(cid)
    out: dict[tuple[str, str], str] = {}
    for fw, cids in by_fw.items():
        for start in range(0, len(cids), _CHUNK):
            for f, c, n in session.execute(
                select(Capability.framework, Capability.capability_id, Capability.name).where(
                    Capability.framework == fw, Capability.capability_id.in_(cids[start : start + _CHUNK])
                )
            ):
                out[(f, c)] = (n or "").strip()
    return out


def technique_counts(session: Session, release_pk: int) -> dict[tuple[str, str], int]:
    """How many distinct techniques each control of a release maps (read off the index)."""
    stmt = _complete(
        select(Mapping.framework, Mapping.capability_id, func.count(func.distinct(Mapping.attack_id))).where(
            Mapping.release_id == release_pk
        )
    ).group_by(Mapping.framework, Mapping.capability_id)
    return {(fw, cid): int(n) for fw, cid, n in session.execute(stmt)}


def techniques_of_control(
    session: Session, release_pk: int, framework: str, capability_id: str
) -> frozenset[str]:
    """The techniques one control maps in one release."""
    stmt = _complete(
        select(Mapping.attack_id).where(
            Mapping.release_id == release_pk,
            Mapping.framework == framework,
            Mapping.capability_id == capability_id,
        )
    )
    return frozenset(t for (t,) in session.execute(stmt))


def mapping_facts(
    session: Session,
    release_pk: int,
    *,
    technique_ids: Collection[str] | None = None,
    capability_id: str | None = None,
) -> list[MappingFact]:
    """Complete mapping rows of one release for some techniques or one control."""
    stmt = _complete(
        select(
            Mapping.capability_id,
            Mapping.capability_name,
            Mapping.attack_id,
            Mapping.attack_name,
            Mapping.mapping_type,
            Mapping.score_category,
            Mapping.score_value,
        ).where(Mapping.release_id == release_pk)
    )
    if technique_ids is not None:
        stmt = stmt.where(Mapping.attack_id.in_(sorted(set(technique_ids))))
    if capability_id is not None:
        stmt = stmt.where(Mapping.capability_id == capability_id)
    return [
        MappingFact(c or "", (cn or "").strip(), a or "", (an or "").strip(), mt or "", sc, sv)
        for c, cn, a, an, mt, sc, sv in session.execute(stmt)
    ]


def technique_family(session: Session, technique_id: str) -> list[str]:
    """A technique and its sub-techniques (every domain), parent first."""
    rows = session.execute(
        select(Technique.attack_id).where(
            or_(Technique.attack_id == technique_id, Technique.parent_attack_id == technique_id)
        )
    ).all()
    ids = sorted({r[0] for r in rows} | {technique_id})
    return ids


def _pick_names(rows: Iterable[tuple[str, str, bool | None]]) -> dict[str, str]:
    """The newest domain row wins; a revoked row only when nothing else names the ID."""
    out: dict[str, tuple[bool, str]] = {}
    for aid, name, revoked in rows:
        if aid not in out or (out[aid][0] and not revoked):
            out[aid] = (bool(revoked), name)
    return {k: out[k][1] for k in sorted(out)}  # in ID order whatever order rows come in


def technique_names(session: Session, ids: Collection[str]) -> dict[str, str]:
    """Current ATT&CK names (the newest domain row wins; revoked rows only when nothing else)."""
    wanted = sorted(set(ids))
    rows: list[tuple[str, str, bool | None]] = []
    for start in range(0, len(wanted), _CHUNK):
        rows.extend(
            session.execute(
                select(Technique.attack_id, Technique.name, Technique.revoked).where(
                    Technique.attack_id.in_(wanted[start : start + _CHUNK])
                )
            )
        )
    return _pick_names(rows)


def all_technique_names(session: Session) -> dict[str, str]:
    """``technique_names`` of every technique the data holds (for an in-memory index)."""
    return _pick_names(session.execute(select(Technique.attack_id, Technique.name, Technique.revoked)))


def tactics(session: Session) -> list[TacticFacts]:
    rows = session.execute(
        select(Tactic.attack_id, Tactic.shortname, Tactic.name, Tactic.domain).order_by(
            Tactic.domain, Tactic.position
        )
    ).all()
    return [TacticFacts(*r) for r in rows]


def techniques_in_tactic(session: Session, domain: str, shortname: str) -> list[str]:
    """Current (not revoked or deprecated) techniques and sub-techniques of one tactic, by ID."""
    rows = session.execute(
        select(Technique.attack_id, Technique.tactics).where(
            Technique.domain == domain, Technique.revoked.is_(False), Technique.deprecated.is_(False)
        )
    ).all()
    return sorted(aid for aid, tacs in rows if shortname in (tacs or ()))
