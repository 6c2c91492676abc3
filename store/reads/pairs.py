"""How one control maps one technique (the pair answer), and the closest controls when it does not."""

from __future__ import annotations

from collections import defaultdict

from store.reads.capabilities import _capability_ref
from store.reads.catalogue import _family, technique_header
from store.reads.fast import Source, _q, reader
from store.reads.lines import _PAIR_ROWS, _is_non_mappable, _line, _line_order
from store.reads.ranking import _closest
from store.reads.releases import NO_FILTERS, _matches
from store.reads.static import static
from store.views import (
    ControlLine,
    Filters,
    MappingLine,
    Note,
    PairRelease,
    PairView,
    TechniqueRef,
)


def pair_view(
    session: Source,
    technique_id: str,
    framework: str,
    capability_id: str,
    *,
    filters: Filters = NO_FILTERS,
    domain: str | None = None,
) -> PairView:
    """Whether and how one capability maps one technique, release by release."""
    session = reader(session)
    releases = list(static(session).releases)
    loaded, family = _family(session, technique_id)
    own = loaded.get(technique_id)
    domain = filters.domain or domain or (own.domain if own else "enterprise")
    ref = _capability_ref(session, framework, capability_id)
    candidates = [i for i in releases if i.ref.framework == framework and _matches(i, filters, domain)]
    by_pk = {i.pk: i for i in candidates}
    sub_names = dict(reversed(family))  # the first row of an ID, as _techniques gives it
    subs = list(sub_names)
    newest_pk = candidates[0].pk if candidates else None
    params = {
        "fw": framework,
        "cid": ref.id,
        "tid": technique_id,
        "tids": [technique_id, *subs],
        "pks": list(by_pk),
        "newest": newest_pk,
    }
    rows = _q(session, _PAIR_ROWS, params) if by_pk else []
    per_release: dict[int, list[MappingLine]] = defaultdict(list)
    sub_hits: dict[str, str] = {}
    for r in rows:
        if _is_non_mappable(r):
            continue
        if r.attack_id == technique_id:
            per_release[r.release_id].append(_line(r, by_pk[r.release_id]))
        elif r.release_id == newest_pk:
            sub_hits.setdefault(r.attack_id, r.attack_name or r.attack_id)
    pair_releases = tuple(
        PairRelease(i.ref, tuple(sorted(per_release.get(i.pk, []), key=_line_order))) for i in candidates
    )
    mapped = any(pr.lines for pr in pair_releases)
    subtechniques = tuple(
        TechniqueRef(sid, sub_names.get(sid) or name, domain) for sid, name in sorted(sub_hits.items())
    )
    closest: tuple[ControlLine, ...] = ()
    if not mapped and candidates:
        closest = _closest(session, technique_id, ref, candidates[0])
    attack_version = candidates[0].ref.attack_version if candidates else None
    header = technique_header(
        session, technique_id, attack_version=attack_version, domain=domain, loaded=loaded
    )
    notes = [] if candidates else [Note("no_release", frameworks=(framework,), domain=domain)]
    return PairView(
        technique=header,
        capability=ref,
        releases=pair_releases,
        subtechniques=subtechniques,
        mapped=mapped,
        closest=closest,
        filters=filters,
        notes=tuple(notes),
    )
