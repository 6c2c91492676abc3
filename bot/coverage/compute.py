"""Coverage arithmetic over mapping facts: what your controls cover, the gaps, the fewest controls
that close the most gaps (greedy set cover), pivots between frameworks, several controls together,
and release-to-release diffs.  Pure functions: no SQL, no wording.
"""

from __future__ import annotations

from collections import defaultdict
from collections.abc import Collection, Iterable, Sequence
from dataclasses import dataclass

from store.coverage_views import ControlTechniques, MappingFact

Key = tuple[str, str]  # (framework, capability_id)


def label(key: Key) -> str:
    """``framework:ID``: how a control is keyed where a view goes out as JSON."""
    return f"{key[0]}:{key[1]}"


@dataclass(frozen=True, slots=True)
class Suggestion:
    """A control to add and the gaps it would close on top of the ones listed before it."""

    framework: str
    capability_id: str
    name: str
    closes: tuple[str, ...]
    planned: bool = False  # already in the inventory as planned


@dataclass(frozen=True, slots=True)
class Coverage:
    techniques: tuple[str, ...]  # the set asked about, in the caller's order
    covered: dict[str, tuple[Key, ...]]  # technique → your deployed controls that map it
    gaps: tuple[str, ...]
    planned_cover: dict[str, tuple[Key, ...]]  # gaps that a planned control would close
    suggestions: dict[str, tuple[Suggestion, ...]]  # per framework, greedy order
    unmappable: tuple[str, ...]  # gaps that no control of any framework consulted maps

    @property
    def covered_count(self) -> int:
        return len(self.covered)


def greedy_cover(
    gaps: Collection[str],
    candidates: Iterable[ControlTechniques],
    *,
    limit: int = 5,
    planned: Collection[Key] = (),
) -> tuple[Suggestion, ...]:
    """The classic greedy set cover: each step takes the control closing most remaining gaps
    (ties: planned controls first, then the ID), until ``limit`` controls or no gain."""
    remaining = set(gaps)
    pool = sorted((c for c in candidates if c.techniques & remaining), key=lambda c: f"{c.key[0]}:{c.key[1]}")
    planned_set = set(planned)
    out: list[Suggestion] = []
    while remaining and pool and len(out) < limit:
        # ``max`` keeps the first of equals, and the pool is in ID order: the smaller ID wins a tie.
        best = max(pool, key=lambda c: (len(c.techniques & remaining), c.key in planned_set))
        gain = best.techniques & remaining
        if not gain:
            break
        out.append(
            Suggestion(
                best.framework, best.capability_id, best.name, tuple(sorted(gain)), best.key in planned_set
            )
        )
        remaining -= gain
        pool = [c for c in pool if c is not best and c.techniques & remaining]
    return tuple(out)


def coverage(
    techniques: Sequence[str],
    controls: Iterable[ControlTechniques],
    deployed: Collection[Key],
    planned: Collection[Key] = (),
    *,
    suggestions_per_framework: int = 5,
) -> Coverage:
    """How ``deployed`` controls cover ``techniques``, given every control's mappings."""
    wanted = list(dict.fromkeys(techniques))
    wanted_set = set(wanted)
    deployed_set, planned_set = set(deployed), set(planned)
    by_technique: dict[str, list[Key]] = defaultdict(list)
    planned_by_technique: dict[str, list[Key]] = defaultdict(list)
    by_framework: dict[str, list[ControlTechniques]] = defaultdict(list)
    mapped: set[str] = set()
    for c in controls:
        hits = c.techniques & wanted_set
        if not hits:
            continue
        mapped |= hits
        if c.key in deployed_set:
            for t in hits:
                by_technique[t].append(c.key)
        else:
            if c.key in planned_set:
                for t in hits:
                    planned_by_technique[t].append(c.key)
            by_framework[c.framework].append(c)
    covered = {t: tuple(sorted(by_technique[t])) for t in wanted if t in by_technique}
    gaps = tuple(t for t in wanted if t not in covered)
    suggestions = {
        fw: s
        for fw, cands in sorted(by_framework.items())
        if (s := greedy_cover(gaps, cands, limit=suggestions_per_framework, planned=planned_set))
    }
    return Coverage(
        techniques=tuple(wanted),
        covered=covered,
        gaps=gaps,
        planned_cover={t: tuple(sorted(planned_by_technique[t])) for t in gaps if t in planned_by_technique},
        suggestions=suggestions,
        unmappable=tuple(t for t in gaps if t not in mapped),
    )


@dataclass(frozen=True, slots=True)
class PivotLine:
    """A target-framework control against the source control's techniques."""

    framework: str
    capability_id: str
    name: str
    shared: frozenset[str]
    missing: frozenset[str]  # the source's techniques this one does not map
    total: int  # how many techniques this one maps in all
    jaccard: float


def pivot(
    source: ControlTechniques,
    targets: Iterable[ControlTechniques],
    totals: dict[Key, int],
    *,
    limit: int = 10,
) -> list[PivotLine]:
    """Target controls ranked by how many of the source's techniques they also map, then by
    Jaccard (shared / either), ``totals`` giving each target's whole technique count."""
    lines = []
    for t in targets:
        shared = source.techniques & t.techniques
        if not shared:
            continue
        total = max(totals.get(t.key, len(t.techniques)), len(t.techniques))
        union = len(source.techniques) + total - len(shared)
        lines.append(
            PivotLine(
                t.framework,
                t.capability_id,
                t.name,
                frozenset(shared),
                frozenset(source.techniques - t.techniques),
                total,
                len(shared) / union,
            )
        )
    lines.sort(key=lambda p: (-len(p.shared), -p.jaccard, p.capability_id))
    return lines[:limit]


@dataclass(frozen=True, slots=True)
class Together:
    """Several controls at once: what they cover between them and what each adds alone."""

    controls: tuple[ControlTechniques, ...]
    union: frozenset[str]
    shared_by_all: frozenset[str]
    adds: dict[str, frozenset[str]]  # "framework:ID" → what only it covers among those named


def together(controls: Sequence[ControlTechniques]) -> Together:
    union: set[str] = set().union(*(c.techniques for c in controls)) if controls else set()
    shared = set.intersection(*(set(c.techniques) for c in controls)) if controls else set()
    adds = {}
    for c in controls:
        others: set[str] = set().union(*(o.techniques for o in controls if o is not c))
        adds[label(c.key)] = frozenset(c.techniques - others)
    return Together(tuple(controls), frozenset(union), frozenset(shared), adds)


@dataclass(frozen=True, slots=True)
class Change:
    capability_id: str
    capability_name: str
    attack_id: str
    attack_name: str
    before: tuple[str, ...]  # "type", "type · category · value" per row
    after: tuple[str, ...]


@dataclass(frozen=True, slots=True)
class Diff:
    added: tuple[Change, ...]
    removed: tuple[Change, ...]
    changed: tuple[Change, ...]
    unchanged: int
    renamed_types: tuple[tuple[str, str, int], ...] = ()  # (before, after, pairs): a type renamed


def _shape(f: MappingFact) -> str:
    return " · ".join(p for p in (f.mapping_type, f.score_category or "", f.score_value or "") if p)


def diff(before: Iterable[MappingFact], after: Iterable[MappingFact]) -> Diff:
    """Mappings added, removed and changed (type or score) between two releases, keyed by the
    (control, technique) pair; a pair mapped twice compares its set of row shapes."""

    def group(facts: Iterable[MappingFact]) -> dict[Key, tuple[MappingFact, tuple[str, ...]]]:
        rows: dict[Key, list[MappingFact]] = defaultdict(list)
        for f in facts:
            rows[(f.capability_id, f.attack_id)].append(f)
        return {k: (v[0], tuple(sorted({_shape(f) for f in v}))) for k, v in rows.items()}

    a, b = group(before), group(after)
    renames = _type_renames(a, b)
    added, removed, changed = [], [], []
    unchanged = 0
    for key in sorted(a.keys() | b.keys()):
        if key not in a:
            f, shape = b[key]
            added.append(Change(f.capability_id, f.capability_name, f.attack_id, f.attack_name, (), shape))
        elif key not in b:
            f, shape = a[key]
            removed.append(Change(f.capability_id, f.capability_name, f.attack_id, f.attack_name, shape, ()))
        elif _renamed(a[key][1], renames) != b[key][1]:
            f = b[key][0]
            changed.append(
                Change(f.capability_id, f.capability_name, f.attack_id, f.attack_name, a[key][1], b[key][1])
            )
        else:
            unchanged += 1
    counts = [
        (x, y, sum(1 for k in a.keys() & b.keys() if a[k][0].mapping_type == x)) for x, y in renames.items()
    ]
    return Diff(tuple(added), tuple(removed), tuple(changed), unchanged, tuple(counts))


def _type_renames(
    a: dict[Key, tuple[MappingFact, tuple[str, ...]]], b: dict[Key, tuple[MappingFact, tuple[str, ...]]]
) -> dict[str, str]:
    """Mapping types the newer release calls by another name (NIST ``protects`` became
    ``mitigates``): a type that no pair keeps, and whose every pair in both releases now has one
    same other type.  Those pairs are unchanged, and the answer says the type was renamed."""
    before_types = {f.mapping_type for f, _ in a.values()}
    after_types = {f.mapping_type for f, _ in b.values()}
    renames: dict[str, str] = {}
    for x in before_types - after_types:
        targets = {b[k][0].mapping_type for k in a.keys() & b.keys() if a[k][0].mapping_type == x}
        if len(targets) == 1:
            renames[x] = targets.pop()
    return renames


def _renamed(shape: tuple[str, ...], renames: dict[str, str]) -> tuple[str, ...]:
    if not renames:
        return shape
    out = []
    for s in shape:
        head, sep, rest = s.partition(" · ")
        out.append(renames.get(head, head) + sep + rest)
    return tuple(sorted(set(out)))
