"""What to collect to see a threat: per ATT&CK data component, how many of the threat's
techniques a detection strategy's analytics read it for (before v18: a data component's own
``detects`` links).  Two indexed selects over the techniques' strategies and their analytics."""

from __future__ import annotations

from collections import defaultdict
from collections.abc import Sequence

from sqlalchemy import bindparam, select

from store.models import Analytic, ComponentDetection, DetectionLink, DetectionStrategy
from store.reads.fast import Source, _json, _q
from store.reads.lines import _ids
from store.threat_views import CollectCount

__all__ = ["data_to_collect"]

_STRATEGIES = (
    select(DetectionLink.technique_attack_id, DetectionStrategy.domain, _json(DetectionStrategy.analytic_ids))
    .join(DetectionStrategy, DetectionStrategy.id == DetectionLink.strategy_pk)
    .where(
        DetectionLink.technique_attack_id.in_(_ids("tids")),
        DetectionStrategy.revoked.is_(False),
        DetectionStrategy.deprecated.is_(False),
    )
)
_ANALYTICS = select(Analytic.domain, Analytic.attack_id, _json(Analytic.log_sources)).where(
    Analytic.attack_id.in_(_ids("ids")), Analytic.revoked.is_(False), Analytic.deprecated.is_(False)
)
_COMPONENTS = select(
    ComponentDetection.technique_attack_id,
    ComponentDetection.component_attack_id,
    ComponentDetection.component_name,
    ComponentDetection.data_source_name,
).where(
    ComponentDetection.technique_attack_id.in_(_ids("tids")), ComponentDetection.domain == bindparam("domain")
)


def data_to_collect(source: Source, technique_ids: Sequence[str], domain: str) -> tuple[CollectCount, ...]:
    """Data components by the number of the techniques they help detect, most first."""
    tids = sorted(set(technique_ids))
    if not tids:
        return ()
    seen: dict[tuple[str | None, str, str | None], set[str]] = defaultdict(set)
    wanted: dict[tuple[str, str], set[str]] = defaultdict(set)  # (domain, analytic) → techniques
    for row in _q(source, _STRATEGIES, {"tids": tids}):
        if row.domain == domain:
            for aid in row.analytic_ids or ():
                wanted[(row.domain, str(aid))].add(row.technique_attack_id)
    if wanted:
        for a in _q(source, _ANALYTICS, {"ids": sorted({aid for _, aid in wanted})}):
            techniques = wanted.get((a.domain, a.attack_id))
            if not techniques:
                continue
            for src in a.log_sources or ():
                if not isinstance(src, dict):
                    continue
                dc, name = src.get("data_component"), src.get("data_component_name")
                if dc or name:
                    seen[(str(dc) if dc else None, str(name or dc), None)].update(techniques)
    for c in _q(source, _COMPONENTS, {"tids": tids, "domain": domain}):
        seen[(c.component_attack_id, c.component_name, c.data_source_name)].add(c.technique_attack_id)
    of = len(tids)
    counts = [CollectCount(dc, name, len(found), of, ds) for (dc, name, ds), found in seen.items()]
    return tuple(sorted(counts, key=lambda c: (-c.techniques, c.name)))
