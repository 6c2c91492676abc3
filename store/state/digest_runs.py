"""Digest runs: one row per (subscription, local date), the clock process's exactly-once record.

The unique key is the claim (only the process whose INSERT lands posts); ``attempts`` is the
fence every later write of the claimer checks, so a claimer that was taken over cannot write.
"""

from __future__ import annotations

import datetime as dt
from collections.abc import Sequence
from dataclasses import asdict, dataclass
from typing import Any, TypedDict, Unpack

from sqlalchemy import Engine, and_, func, select, update
from sqlalchemy.dialects import postgresql, sqlite

from store.app_state import DigestRun
from store.db import write_connection


def _insert(engine: Engine) -> Any:
    return (postgresql if engine.dialect.name == "postgresql" else sqlite).insert(DigestRun)


@dataclass(frozen=True, slots=True)
class RunState:
    """Where a digest run got to: what the clock needs to skip it, take it over or resume it."""

    id: int
    subscription_id: int
    local_date: dt.date
    status: str  # claimed | posting | retry | sent | skipped | failed
    claimed_at: dt.datetime
    attempts: int
    message_ts: str | None
    thread_parts_posted: int


@dataclass(frozen=True, slots=True)
class SkippedRun:
    """A run recorded as ``skipped`` without a claim (a digest missed beyond catch-up)."""

    subscription_id: int
    local_date: dt.date
    due_at: dt.datetime
    claimed_by: str
    claimed_at: dt.datetime
    error: str


def runs_from(
    engine: Engine, subscription_ids: Sequence[int], first_date: dt.date
) -> dict[tuple[int, dt.date], RunState]:
    """The runs of these subscriptions on or after ``first_date``, by (subscription, local date)."""
    with engine.connect() as conn:
        rows = conn.execute(
            select(
                DigestRun.id,
                DigestRun.subscription_id,
                DigestRun.local_date,
                DigestRun.status,
                DigestRun.claimed_at,
                DigestRun.attempts,
                DigestRun.message_ts,
                DigestRun.thread_parts_posted,
            ).where(DigestRun.subscription_id.in_(list(subscription_ids)), DigestRun.local_date >= first_date)
        ).all()
    return {(r.subscription_id, r.local_date): RunState(*r) for r in rows}


def record_skipped_runs(engine: Engine, runs: Sequence[SkippedRun]) -> list[tuple[int, dt.date]]:
    """Insert ``skipped`` rows where none exists yet; the (subscription, local date) of those
    that landed, in one statement."""
    values = [{**asdict(r), "status": "skipped", "attempts": 0} for r in runs]
    stmt = (
        _insert(engine)
        .values(values)
        .on_conflict_do_nothing(index_elements=["subscription_id", "local_date"])
        .returning(DigestRun.subscription_id, DigestRun.local_date)
    )
    with write_connection(engine) as conn:
        return [(sid, day) for sid, day in conn.execute(stmt).all()]


def claim_run(
    engine: Engine,
    *,
    subscription_id: int,
    local_date: dt.date,
    due_at: dt.datetime,
    instance: str,
    now: dt.datetime,
) -> int | None:
    """INSERT the claim with ``attempts`` 1; its id, or None when another process has the row."""
    stmt = (
        _insert(engine)
        .values(
            subscription_id=subscription_id,
            local_date=local_date,
            due_at=due_at,
            status="claimed",
            claimed_by=instance,
            claimed_at=now,
            attempts=1,
            thread_parts_posted=0,
        )
        .on_conflict_do_nothing(index_elements=["subscription_id", "local_date"])
        .returning(DigestRun.id)
    )
    with write_connection(engine) as conn:
        run_id = conn.execute(stmt).scalar()
    return None if run_id is None else int(run_id)


def take_over_run(
    engine: Engine,
    run_id: int,
    *,
    seen_status: str,
    seen_attempts: int,
    status: str,
    instance: str,
    now: dt.datetime,
) -> bool:
    """Compare-and-set on (status, attempts): exactly one contender wins a stale claim, and
    becomes its claimer with ``attempts`` one more."""
    with write_connection(engine) as conn:
        done = conn.execute(
            update(DigestRun)
            .where(
                DigestRun.id == run_id, DigestRun.status == seen_status, DigestRun.attempts == seen_attempts
            )
            .values(status=status, claimed_by=instance, claimed_at=now, attempts=seen_attempts + 1)
        ).rowcount
    return bool(done == 1)


class RunUpdate(TypedDict, total=False):
    """What a claimer writes to its run as it goes (each key optional)."""

    status: str
    error: str | None
    claimed_at: dt.datetime
    sent_at: dt.datetime | None
    message_ts: str | None
    thread_parts_posted: int


def update_claimed_run(
    engine: Engine, run_id: int, *, instance: str, fence: int, **values: Unpack[RunUpdate]
) -> bool:
    """Write to the run only if ``instance`` still holds the claim with ``attempts == fence``."""
    with write_connection(engine) as conn:
        done = conn.execute(
            update(DigestRun)
            .where(
                and_(DigestRun.id == run_id, DigestRun.claimed_by == instance, DigestRun.attempts == fence)
            )
            .values(**values)
        ).rowcount
    return bool(done == 1)


@dataclass(frozen=True, slots=True)
class NewestRun:
    """A subscription's newest digest run: its day, where it got to, and why it failed."""

    subscription_id: int
    local_date: dt.date
    status: str
    sent_at: dt.datetime | None
    error: str | None


def newest_runs(engine: Engine, subscription_ids: Sequence[int]) -> dict[int, NewestRun]:
    """Each subscription's newest run, in one query."""
    if not subscription_ids:
        return {}
    newest = (
        select(DigestRun.subscription_id, func.max(DigestRun.local_date).label("day"))
        .where(DigestRun.subscription_id.in_(list(subscription_ids)))
        .group_by(DigestRun.subscription_id)
        .subquery()
    )
    with engine.connect() as conn:
        rows = conn.execute(
            select(
                DigestRun.subscription_id,
                DigestRun.local_date,
                DigestRun.status,
                DigestRun.sent_at,
                DigestRun.error,
            ).join(
                newest,
                (DigestRun.subscription_id == newest.c.subscription_id)
                & (DigestRun.local_date == newest.c.day),
            )
        ).all()
    return {r.subscription_id: NewestRun(*r) for r in rows}
