"""What changes only with the data version, read whole and shared by every read of a version:
the releases, the tactic names and the technique catalogue.

Every read asks ``static(source)``: one code path, whoever calls.  A Reader opened with
``reading(engine, known)`` has the ``StaticInfo`` it was given (the Answerer reads it once per
data version, with the resolver index, off the request path); any other Reader or Session reads
it on first use, once.
"""

from __future__ import annotations

from collections import defaultdict
from collections.abc import Iterator, Mapping
from contextlib import contextmanager
from dataclasses import dataclass
from typing import Any
from weakref import WeakKeyDictionary

from sqlalchemy import Engine, select

from store.models import Mitigation, MitigationLink, Tactic, Technique
from store.reads.fast import Reader, Source, _json, _q, reader
from store.reads.fast import reading as fast_reading
from store.reads.releases import ReleaseInfo, read_releases
from store.views import MitigationLine

TECHNIQUE_COLS = (
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
_CATALOGUE = select(*TECHNIQUE_COLS, Technique.description)
_ALL_MITIGATIONS = select(
    MitigationLink.technique_attack_id, Mitigation.attack_id, Mitigation.name, Mitigation.url
).where(
    MitigationLink.mitigation_pk == Mitigation.id,
    Mitigation.revoked.is_(False),
    Mitigation.deprecated.is_(False),
)
_TACTICS = select(Tactic.domain, Tactic.shortname, Tactic.name, Tactic.position)


@dataclass(frozen=True)
class TechniqueCatalogue:
    """Every ATT&CK technique (about a thousand rows, 1.4 MB with descriptions, a few ms to
    read), for the views' look-ups: a control's techniques by ID would otherwise be hundreds
    of rows, each read past its long description for the tactics stored after it, and every
    technique answer a select of the technique, its parent and its sub-techniques."""

    techniques: dict[str, Any]  # attack_id -> technique row (with its description)
    children: dict[str, list[tuple[str, str]]]  # parent -> current sub-techniques (ID, name), by ID
    mitigations: dict[str, tuple[MitigationLine, ...]]  # technique -> current mitigations, by ID


@dataclass(frozen=True, eq=False)  # by identity: one per data version, a cache key
class StaticInfo:
    releases: tuple[ReleaseInfo, ...]  # newest first
    tactics: Mapping[tuple[str, str], tuple[int, str]]  # (domain, shortname) -> (position, name)
    catalogue: TechniqueCatalogue


def by_id(rows: Any) -> dict[str, Any]:
    """Technique rows by ATT&CK ID, preferring a current object when a domain has the ID twice."""
    out: dict[str, Any] = {}
    for t in rows:
        if t.attack_id not in out or (out[t.attack_id].revoked and not t.revoked):
            out[t.attack_id] = t
    return out


def load_static(source: Source) -> StaticInfo:
    """Read the releases, tactics and technique catalogue of the data as it is now."""
    rows = _q(source, _CATALOGUE)
    children: dict[str, list[tuple[str, str]]] = defaultdict(list)
    for r in sorted(rows, key=lambda r: r.attack_id):
        if r.parent_attack_id and not r.revoked and not r.deprecated:
            children[r.parent_attack_id].append((r.attack_id, r.name))
    mitigations: dict[str, set[MitigationLine]] = defaultdict(set)
    for m in _q(source, _ALL_MITIGATIONS):
        mitigations[m.technique_attack_id].add(MitigationLine(m.attack_id, m.name, m.url))
    catalogue = TechniqueCatalogue(
        by_id(rows),
        dict(children),
        {tid: tuple(sorted(lines, key=lambda m: m.id)) for tid, lines in mitigations.items()},
    )
    tactics = {(r.domain, r.shortname): (r.position, r.name) for r in _q(source, _TACTICS)}
    return StaticInfo(tuple(read_releases(source)), tactics, catalogue)


_BY_READER: WeakKeyDictionary[Reader, StaticInfo] = WeakKeyDictionary()


@contextmanager
def reading(engine: Engine, known: StaticInfo | None = None) -> Iterator[Reader]:
    """``store.reads.fast.reading``, with the static facts the caller already holds for the
    data version (None: read on first use)."""
    with fast_reading(engine) as opened:
        if known is not None:
            _BY_READER[opened] = known
        yield opened


def static(source: Source) -> StaticInfo:
    """The static facts for ``source`` (a Session's: its Reader's, for its transaction), read
    on first use."""
    r = reader(source)
    found = _BY_READER.get(r)
    if found is None:
        found = _BY_READER[r] = load_static(r)
    return found
