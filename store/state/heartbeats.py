"""Heartbeats of the long-running processes (web workers, the Socket Mode worker, the digest clock),
so that ``countermap health`` can say from anywhere whether each is alive.

One row per process instance (kind + ``host:pid``): written when it starts, every interval while it
runs, removed when it stops cleanly.  A crashed instance's row stays and goes stale, which is the
point; rows older than a day are pruned by the next writer.
"""

from __future__ import annotations

import datetime as dt
from dataclasses import dataclass
from typing import Any

from sqlalchemy import JSON, Engine, String, delete, select, true
from sqlalchemy.dialects import postgresql, sqlite
from sqlalchemy.orm import Mapped, mapped_column

from store.db import write_connection
from store.models import Base, utcnow

PRUNE_AFTER = dt.timedelta(days=1)
# ``countermap sync`` runs from cron and exits: one row per result (changed, unchanged, failed)
# says when it last ended so, from any host.  Never pruned, never stale: a run is not a process.
SYNC_PROCESS = "sync"
SYNC_RESULTS = ("changed", "unchanged", "failed")


class ProcessHeartbeat(Base):
    __tablename__ = "process_heartbeats"

    process: Mapped[str] = mapped_column(String(16), primary_key=True)  # web | worker | clock
    instance: Mapped[str] = mapped_column(String(200), primary_key=True)  # host:pid
    started_at: Mapped[dt.datetime] = mapped_column(default=utcnow)
    beat_at: Mapped[dt.datetime] = mapped_column(default=utcnow)
    detail: Mapped[dict[str, Any] | None] = mapped_column(JSON)  # e.g. the data version it serves


@dataclass(frozen=True, slots=True)
class Beat:
    process: str
    instance: str
    started_at: dt.datetime
    beat_at: dt.datetime
    detail: dict[str, Any]


def _aware(value: dt.datetime) -> dt.datetime:
    return value if value.tzinfo else value.replace(tzinfo=dt.UTC)


def beat(
    engine: Engine,
    process: str,
    instance: str,
    started_at: dt.datetime,
    detail: dict[str, Any] | None = None,
    *,
    now: dt.datetime | None = None,
) -> None:
    """Record that ``process``/``instance`` is alive now (one upsert; prunes long-dead rows)."""
    now = now or dt.datetime.now(dt.UTC)
    dialect = postgresql if engine.dialect.name == "postgresql" else sqlite
    stmt = dialect.insert(ProcessHeartbeat).values(
        process=process, instance=instance, started_at=started_at, beat_at=now, detail=detail or {}
    )
    stmt = stmt.on_conflict_do_update(
        index_elements=["process", "instance"], set_={"beat_at": now, "detail": detail or {}}
    )
    with write_connection(engine) as conn:
        conn.execute(stmt)
        conn.execute(
            delete(ProcessHeartbeat).where(
                ProcessHeartbeat.beat_at < now - PRUNE_AFTER, ProcessHeartbeat.process != SYNC_PROCESS
            )
        )


def forget(engine: Engine, process: str, instance: str) -> None:
    """A clean stop: this instance is not expected any more."""
    with write_connection(engine) as conn:
        conn.execute(
            delete(ProcessHeartbeat).where(
                ProcessHeartbeat.process == process, ProcessHeartbeat.instance == instance
            )
        )


def record_sync_result(
    engine: Engine, result: str, detail: dict[str, Any] | None = None, *, now: dt.datetime | None = None
) -> None:
    """A ``countermap sync`` run ended with ``result`` (one of ``SYNC_RESULTS``)."""
    now = now or dt.datetime.now(dt.UTC)
    beat(engine, SYNC_PROCESS, result, now, detail, now=now)


def sync_results(engine: Engine) -> dict[str, Beat]:
    """When sync last ended with each result (absent: never), with what it said."""
    return {b.instance: b for b in heartbeats(engine, syncs=True) if b.process == SYNC_PROCESS}


def heartbeats(engine: Engine, *, syncs: bool = False) -> list[Beat]:
    """Every recorded instance of a long-running process, newest beat first (with ``syncs``,
    the sync results' rows too)."""
    with engine.connect() as conn:
        rows = conn.execute(
            select(
                ProcessHeartbeat.process,
                ProcessHeartbeat.instance,
                ProcessHeartbeat.started_at,
                ProcessHeartbeat.beat_at,
                ProcessHeartbeat.detail,
            )
            .where(true() if syncs else ProcessHeartbeat.process != SYNC_PROCESS)
            .order_by(ProcessHeartbeat.beat_at.desc())
        ).all()
    return [Beat(p, i, _aware(s), _aware(b), dict(d or {})) for p, i, s, b, d in rows]
