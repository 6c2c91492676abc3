"""What the database holds, per release and in total, counted from the rows themselves."""

from __future__ import annotations

import datetime as dt
from dataclasses import asdict, dataclass, field
from typing import Any

from sqlalchemy import Engine, case, func, select

from store.app_state import SyncRun
from store.ingest.loader import release_order_key
from store.models import AttackBundle, Capability, CapabilityDescription, Mapping, Release, Technique

__all__ = ["ReleaseStats", "StoreStats", "collect_stats"]


@dataclass(frozen=True)
class ReleaseStats:
    framework: str
    framework_version: str
    attack_version: str
    domain: str
    mapping_rows: int  # every row of the file, non-mappable ones included
    non_mappable_rows: int
    capabilities: int  # distinct canonical capability IDs
    last_update: str | None
    loaded_at: str | None
    source_file: str


@dataclass(frozen=True)
class StoreStats:
    releases: list[ReleaseStats]
    mappings_total: int
    non_mappable_total: int
    capabilities_total: int
    attack_versions: list[str]
    domains: list[str]
    attack: list[dict[str, Any]] = field(default_factory=list)  # per loaded ATT&CK bundle
    description_sources: list[dict[str, Any]] = field(default_factory=list)
    last_change: str | None = None

    def as_dict(self) -> dict[str, Any]:
        return asdict(self)


def _iso(value: dt.date | dt.datetime | None) -> str | None:
    """ISO text; times are UTC (SQLite hands them back without a zone)."""
    if isinstance(value, dt.datetime) and value.tzinfo is None:
        value = value.replace(tzinfo=dt.UTC)
    return value.isoformat() if value is not None else None


def collect_stats(engine: Engine) -> StoreStats:
    with engine.connect() as conn:
        per_release = {
            row.release_id: row
            for row in conn.execute(
                select(
                    Mapping.release_id,
                    func.count().label("rows"),
                    func.sum(case((Mapping.status == "non_mappable", 1), else_=0)).label("non_mappable"),
                    func.count(func.distinct(Mapping.capability_id)).label("capabilities"),
                ).group_by(Mapping.release_id)
            )
        }
        releases = conn.execute(select(Release)).all()
        out: list[tuple[Any, ReleaseStats]] = []
        for r in releases:
            counts = per_release.get(r.id)
            out.append(
                (
                    (
                        r.framework,
                        release_order_key(r.framework_version, r.attack_version, r.last_update, r.id),
                    ),
                    ReleaseStats(
                        framework=r.framework,
                        framework_version=r.framework_version,
                        attack_version=r.attack_version,
                        domain=r.domain,
                        mapping_rows=int(counts.rows) if counts else 0,
                        non_mappable_rows=int(counts.non_mappable or 0) if counts else 0,
                        capabilities=int(counts.capabilities) if counts else 0,
                        last_update=_iso(r.last_update),
                        loaded_at=_iso(r.loaded_at),
                        source_file=r.source_file,
                    ),
                )
            )
        out.sort(key=lambda pair: pair[0])
        bundles = [
            {
                "domain": b.domain,
                "attack_version": b.attack_version,
                "techniques": 0,
                "loaded_at": _iso(b.loaded_at),
            }
            for b in conn.execute(select(AttackBundle).order_by(AttackBundle.domain))
        ]
        techniques = dict(
            conn.execute(select(Technique.domain, func.count()).group_by(Technique.domain)).all()
        )
        for b in bundles:
            b["techniques"] = int(techniques.get(b["domain"], 0))
        sources = [
            {"source": s, "framework": f, "framework_version": v, "entries": int(n)}
            for s, f, v, n in conn.execute(
                select(
                    CapabilityDescription.source,
                    CapabilityDescription.framework,
                    CapabilityDescription.framework_version,
                    func.count(),
                )
                .group_by(
                    CapabilityDescription.source,
                    CapabilityDescription.framework,
                    CapabilityDescription.framework_version,
                )
                .order_by(CapabilityDescription.source)
            ).all()
        ]
        capabilities_total = int(conn.scalar(select(func.count()).select_from(Capability)) or 0)
        last_change = conn.scalar(select(func.max(SyncRun.finished_at)))

    stats = [s for _, s in out]
    attack_versions = sorted(
        {s.attack_version for s in stats}
        | {str(b["attack_version"]) for b in bundles if b["attack_version"]},
        key=lambda v: tuple(int(p) for p in v.split(".") if p.isdigit()),
    )
    domains = sorted({s.domain for s in stats} | {str(b["domain"]) for b in bundles})
    return StoreStats(
        releases=stats,
        mappings_total=sum(s.mapping_rows for s in stats),
        non_mappable_total=sum(s.non_mappable_rows for s in stats),
        capabilities_total=capabilities_total,
        attack_versions=attack_versions,
        domains=domains,
        attack=bundles,
        description_sources=sources,
        last_change=_iso(last_change),
    )
