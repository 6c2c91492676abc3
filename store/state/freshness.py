"""How fresh the loaded data is, for the metrics endpoint: one short read."""

from __future__ import annotations

import datetime as dt

from sqlalchemy import Engine, func, select

from store.app_state import SyncRun
from store.models import AttackBundle, Release


def _epoch(value: dt.datetime | None) -> float | None:
    if value is None:
        return None
    return (value if value.tzinfo else value.replace(tzinfo=dt.UTC)).timestamp()


def data_times(engine: Engine) -> tuple[float | None, float | None]:
    """(newest release or bundle ``loaded_at``, newest sync/ingest that changed data), as epoch
    seconds, None where nothing is recorded."""
    with engine.connect() as conn:
        releases = conn.scalar(select(func.max(Release.loaded_at)))
        bundles = conn.scalar(select(func.max(AttackBundle.loaded_at)))
        changed = conn.scalar(select(func.max(SyncRun.finished_at)))
    loaded = [t for t in (_epoch(releases), _epoch(bundles)) if t is not None]
    return (max(loaded) if loaded else None), _epoch(changed)
