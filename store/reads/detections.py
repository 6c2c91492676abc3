"""How to detect a technique: ATT&CK's detection strategies and analytics for it, and the
capabilities whose mappings of it are in the ``detect`` category (with license requirements).

A handful of indexed selects on the fast read path; the technique's header, its sub-techniques
and the releases come from the data version's static facts."""

from __future__ import annotations

from collections.abc import Sequence
from typing import Any

from sqlalchemy import bindparam, select

from store.models import Analytic, AttackBundle, ComponentDetection, DetectionLink, DetectionStrategy
from store.reads.catalogue import _techniques, technique_header
from store.reads.fast import Source, _json, _q, reader
from store.reads.lines import _TECHNIQUE_ROWS, _ids, _is_non_mappable, _lines
from store.reads.releases import NO_FILTERS, pick_releases
from store.reads.static import static
from store.reads.threats import clean_text
from store.threat_views import (
    AnalyticView,
    ComponentDetectionView,
    DetectionView,
    DetectSection,
    LogSource,
    StrategyView,
    TunableElement,
)
from store.views import Filters, MappingLine, Note, TechniqueRef, score_rank

__all__ = ["detections_for_technique"]

DETECT = "detect"

_STRATEGIES = (
    select(
        DetectionStrategy.domain,
        DetectionStrategy.attack_id,
        DetectionStrategy.name,
        DetectionStrategy.url,
        _json(DetectionStrategy.analytic_ids),
    )
    .join(DetectionLink, DetectionLink.strategy_pk == DetectionStrategy.id)
    .where(
        DetectionLink.technique_attack_id == bindparam("tid"),
        DetectionStrategy.revoked.is_(False),
        DetectionStrategy.deprecated.is_(False),
    )
    .order_by(DetectionStrategy.attack_id)
)
_ANALYTICS = select(
    Analytic.domain,
    Analytic.attack_id,
    Analytic.name,
    Analytic.description,
    Analytic.url,
    _json(Analytic.platforms),
    _json(Analytic.log_sources),
    _json(Analytic.mutable_elements),
).where(Analytic.attack_id.in_(_ids("ids")), Analytic.revoked.is_(False), Analytic.deprecated.is_(False))
_COMPONENTS = select(
    ComponentDetection.data_source_id,
    ComponentDetection.data_source_name,
    ComponentDetection.component_attack_id,
    ComponentDetection.component_name,
    ComponentDetection.description,
).where(ComponentDetection.technique_attack_id == bindparam("tid"))
_BUNDLE_VERSION = select(AttackBundle.attack_version).where(AttackBundle.domain == bindparam("domain"))


def detections_for_technique(
    session: Source,
    technique_id: str,
    *,
    frameworks: Sequence[str] = (),
    filters: Filters = NO_FILTERS,
) -> DetectionView | None:
    """None when the loaded ATT&CK has no such technique.  Strategies in ID order, analytics
    as the strategy lists them; per framework (``frameworks``, or every framework loaded for
    the technique's domain) its newest release's detect mappings, strongest first.
    ``filters``: the ATT&CK version or framework release, and a minimum score."""
    source = reader(session)
    tid = technique_id.strip().upper()
    loaded = _techniques(source, [tid, tid.split(".")[0]])
    own = loaded.get(tid)
    if own is None:
        return None
    domain = own.domain
    strategies = _strategies(source, tid)
    components = () if strategies else _components(source, tid)
    sections, uncategorised, mapped, hidden = _detect_sections(source, tid, domain, frameworks, filters)
    attack_version = filters.attack_version or (sections[0].release.attack_version if sections else None)
    header = technique_header(source, tid, attack_version=attack_version, domain=domain, loaded=loaded)
    subs = tuple(TechniqueRef(i, n, domain) for i, n in static(source).catalogue.children.get(tid, ()))
    bundle = _q(source, _BUNDLE_VERSION, {"domain": domain})
    notes = [Note("detect_hidden", count=hidden)] if hidden else []
    return DetectionView(
        header=header,
        strategies=strategies,
        sections=sections,
        subtechniques=subs,
        attack_release=bundle[0].attack_version if bundle else None,
        filters=filters,
        frameworks=tuple(frameworks),
        uncategorised=uncategorised,
        mapped=mapped,
        notes=tuple(notes),
        components=components,
    )


def _components(source: Source, tid: str) -> tuple[ComponentDetectionView, ...]:
    """By data source, then component, as ATT&CK's pages listed them before v18."""
    rows = _q(source, _COMPONENTS, {"tid": tid})
    views = {
        (r.data_source_name or "", r.component_name): ComponentDetectionView(
            r.data_source_id,
            r.data_source_name,
            r.component_attack_id,
            r.component_name,
            clean_text(r.description),
        )
        for r in rows
    }
    return tuple(views[k] for k in sorted(views))


def _strategies(source: Source, tid: str) -> tuple[StrategyView, ...]:
    rows = _q(source, _STRATEGIES, {"tid": tid})
    wanted = {(s.domain, a) for s in rows for a in s.analytic_ids or ()}
    found: dict[tuple[str, str], Any] = {}
    if wanted:
        for a in _q(source, _ANALYTICS, {"ids": sorted({a for _, a in wanted})}):
            if (a.domain, a.attack_id) in wanted:
                found[(a.domain, a.attack_id)] = a
    return tuple(
        StrategyView(
            s.attack_id,
            s.name,
            s.url,
            tuple(
                _analytic(found[(s.domain, aid)]) for aid in s.analytic_ids or () if (s.domain, aid) in found
            ),
        )
        for s in rows
    )


def _text(value: Any) -> str | None:
    return str(value).strip() or None if value is not None else None


def _analytic(a: Any) -> AnalyticView:
    return AnalyticView(
        attack_id=a.attack_id,
        name=a.name,
        description=a.description,
        url=a.url,
        platforms=tuple(str(p) for p in a.platforms or ()),
        log_sources=tuple(
            LogSource(
                _text(x.get("name")),
                _text(x.get("channel")),
                _text(x.get("data_component")),
                _text(x.get("data_component_name")),
            )
            for x in a.log_sources or ()
            if isinstance(x, dict)
        ),
        tunable=tuple(
            TunableElement(_text(x.get("field")), _text(x.get("description")))
            for x in a.mutable_elements or ()
            if isinstance(x, dict)
        ),
    )


def _detect_sections(
    source: Source, tid: str, domain: str, frameworks: Sequence[str], filters: Filters
) -> tuple[tuple[DetectSection, ...], tuple[str, ...], tuple[str, ...], int]:
    """(sections of frameworks with detect mappings, frameworks whose mappings of the technique
    carry no category at all, frameworks with any mapping of it, detect mappings hidden by the
    minimum score)."""
    releases = list(static(source).releases)
    wanted = list(frameworks) or list(dict.fromkeys(i.ref.framework for i in releases))
    chosen = pick_releases(
        releases,
        wanted,
        Filters(framework_version=filters.framework_version, attack_version=filters.attack_version),
        domain,
    )
    if not chosen:
        return (), (), (), 0
    by_pk = {info.pk: info for info in chosen.values()}
    rows: dict[int, list[Any]] = {pk: [] for pk in by_pk}
    for r in _q(source, _TECHNIQUE_ROWS, {"tid": tid, "pks": list(by_pk)}):
        if r.capability_id and not _is_non_mappable(r):
            rows[r.release_id].append(r)
    sections, uncategorised, hidden = [], [], 0
    for fw, info in chosen.items():
        mapped = rows[info.pk]
        detect = [r for r in mapped if (r.score_category or "").lower() == DETECT]
        if not detect:
            if mapped and not any(r.score_category for r in mapped):
                uncategorised.append(fw)
            continue
        if filters.min_score:
            kept = [r for r in detect if score_rank(r.score_value) >= score_rank(filters.min_score)]
            hidden += len(detect) - len(kept)
            detect = kept
        if detect:
            sections.append(DetectSection(fw, info.ref, _strongest(_lines(detect, info))))
    mapped_in = tuple(
        fw for fw, info in chosen.items() if rows[info.pk] and fw != "kev"
    )  # CVEs, not controls
    return tuple(sections), tuple(uncategorised), mapped_in, hidden


def _strongest(lines: list[MappingLine]) -> tuple[MappingLine, ...]:
    """One line per capability (its strongest detect mapping), strongest first."""
    best: dict[str, MappingLine] = {}
    for line in lines:
        old = best.get(line.capability_id)
        if old is None or score_rank(line.score_value) > score_rank(old.score_value):
            best[line.capability_id] = line
    return tuple(sorted(best.values(), key=lambda ln: (-score_rank(ln.score_value), ln.capability_id)))
