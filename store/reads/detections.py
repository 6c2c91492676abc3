"""How to detect a technique: ATT&CK's detection strategies and analytics for it, and the
capabilities whose mappings of it are in the ``detect`` category (with license requirements)."""

from __future__ import annotations

from sqlalchemy import select
from sqlalchemy.orm import Session

from store.models import Analytic, DetectionLink, DetectionStrategy, Mapping, Technique
from store.reads.releases import NO_FILTERS, pick_releases
from store.reads.static import static
from store.threat_views import (
    AnalyticView,
    DetectCapability,
    DetectionView,
    LogSource,
    StrategyView,
    TunableElement,
)
from store.views import score_rank

__all__ = ["detections_for_technique"]


def detections_for_technique(session: Session, technique_id: str) -> DetectionView | None:
    """None when the technique is unknown; strategies in ID order, analytics as listed."""
    tid = technique_id.upper()
    tech = session.execute(
        select(Technique.name, Technique.domain).where(Technique.attack_id == tid).order_by(Technique.domain)
    ).first()
    if tech is None:
        return None
    strategies = (
        session.execute(
            select(DetectionStrategy)
            .join(DetectionLink, DetectionLink.strategy_pk == DetectionStrategy.id)
            .where(DetectionLink.technique_attack_id == tid)
            .order_by(DetectionStrategy.attack_id)
        )
        .scalars()
        .all()
    )
    wanted = {(s.domain, a) for s in strategies for a in s.analytic_ids or ()}
    analytics = (
        {
            (a.domain, a.attack_id): a
            for a in session.execute(
                select(Analytic).where(Analytic.attack_id.in_({a for _, a in wanted}))
            ).scalars()
            if (a.domain, a.attack_id) in wanted
        }
        if wanted
        else {}
    )
    views = []
    for s in strategies:
        shown = []
        for aid in s.analytic_ids or ():
            a = analytics.get((s.domain, aid))
            if a is None:
                continue
            shown.append(
                AnalyticView(
                    attack_id=a.attack_id,
                    name=a.name,
                    description=a.description,
                    url=a.url,
                    platforms=tuple(a.platforms or ()),
                    log_sources=tuple(
                        LogSource(
                            x.get("name"),
                            x.get("channel"),
                            x.get("data_component"),
                            x.get("data_component_name"),
                        )
                        for x in a.log_sources or ()
                    ),
                    tunable=tuple(
                        TunableElement(x.get("field"), x.get("description")) for x in a.mutable_elements or ()
                    ),
                )
            )
        views.append(StrategyView(s.attack_id, s.name, s.url, tuple(shown)))
    return DetectionView(tid, tech.name, tuple(views), _detect_capabilities(session, tid, tech.domain))


def _detect_capabilities(session: Session, tid: str, domain: str) -> tuple[DetectCapability, ...]:
    """Mappings in the ``detect`` category (scored frameworks' detect scores, M365 "Detects"),
    newest release per framework, strongest score first."""
    releases = list(static(session).releases)
    newest = pick_releases(releases, sorted({i.ref.framework for i in releases}), NO_FILTERS, domain)
    by_pk = {info.pk: info for info in newest.values()}
    if not by_pk:
        return ()
    rows = session.execute(
        select(
            Mapping.release_id,
            Mapping.framework,
            Mapping.capability_id,
            Mapping.capability_name,
            Mapping.score_category,
            Mapping.mapping_type,
            Mapping.score_value,
            Mapping.license_requirements,
        ).where(Mapping.attack_id == tid, Mapping.release_id.in_(list(by_pk)))
    ).all()
    best: dict[tuple[str, str], DetectCapability] = {}
    for r in rows:
        category = (r.score_category or r.mapping_type or "").lower()
        if not r.capability_id or not category.startswith("detect"):
            continue
        cap = DetectCapability(
            r.framework,
            r.capability_id,
            (r.capability_name or r.capability_id).strip(),
            r.score_value,
            r.license_requirements,
            by_pk[r.release_id].ref,
        )
        old = best.get((r.framework, r.capability_id))
        if old is None or score_rank(cap.score_value) > score_rank(old.score_value):
            best[(r.framework, r.capability_id)] = cap
    return tuple(
        sorted(best.values(), key=lambda c: (c.framework, -score_rank(c.score_value), c.capability_id))
    )
