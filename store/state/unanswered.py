"""Questions the bot could not answer, or answered with a low-confidence guess.

Admins read the most frequent ones (``countermap analytics unanswered``, App Home) to add aliases
where people need them.  Rows keep the text, the surface, the team and the time; a user ID only
when the deployment asks for it.  Old rows are pruned by the same writer that adds new ones.
"""

from __future__ import annotations

import datetime as dt
import re
from collections.abc import Sequence
from contextlib import AbstractContextManager
from dataclasses import dataclass
from typing import Literal

from sqlalchemy import Engine, Float, Index, String, Text, delete, func, insert, select
from sqlalchemy.orm import Mapped, mapped_column

from store.db import session_scope, write_connection
from store.models import Base, utcnow

Reason = Literal["no_match", "low_confidence"]
MAX_QUERY_CHARS = 500
_SPACE = re.compile(r"\s+")


class UnansweredQuestion(Base):
    __tablename__ = "unanswered_questions"
    __table_args__ = (
        Index("ix_unanswered_team_time", "team_id", "created_at"),
        Index("ix_unanswered_time", "created_at"),
    )

    id: Mapped[int] = mapped_column(primary_key=True)
    team_id: Mapped[str] = mapped_column(String(32))
    surface: Mapped[str] = mapped_column(String(16))  # command | mention | dm | shortcut | modal | cli
    query: Mapped[str] = mapped_column(Text)
    query_key: Mapped[str] = mapped_column(String(MAX_QUERY_CHARS))  # lower-cased, spaces collapsed
    reason: Mapped[str] = mapped_column(String(16))
    best_guess: Mapped[str | None] = mapped_column(String(200))  # what a low-confidence answer showed
    score: Mapped[float | None] = mapped_column(Float)
    user_id: Mapped[str | None] = mapped_column(String(32))  # only when configured
    created_at: Mapped[dt.datetime] = mapped_column(default=utcnow)


@dataclass(frozen=True, slots=True)
class UnansweredRow:
    """One question to record (``user_id`` already dropped unless the deployment keeps it)."""

    team_id: str
    surface: str
    query: str
    reason: Reason
    best_guess: str | None = None
    score: float | None = None
    user_id: str | None = None
    created_at: dt.datetime | None = None


@dataclass(frozen=True, slots=True)
class UnansweredSummary:
    """A question as admins see it: how often it was asked, where, and what the bot guessed."""

    query: str  # the most recent spelling
    count: int
    reason: Reason  # no_match when any asking found nothing
    surfaces: tuple[str, ...]
    teams: int
    first_seen: dt.datetime
    last_seen: dt.datetime
    best_guess: str | None


def query_key(text: str) -> str:
    """Questions that differ only in case or spacing count as one."""
    return _SPACE.sub(" ", text.strip().lower())[:MAX_QUERY_CHARS]


def record_unanswered(
    engine: Engine, rows: Sequence[UnansweredRow], write_lock: AbstractContextManager[object] | None = None
) -> None:
    """Insert the rows in one statement (``write_lock`` held around it on SQLite)."""
    if not rows:
        return
    now = dt.datetime.now(dt.UTC)
    values = [
        {
            "team_id": r.team_id[:32],
            "surface": r.surface[:16],
            "query": r.query[:MAX_QUERY_CHARS],
            "query_key": query_key(r.query),
            "reason": r.reason,
            "best_guess": r.best_guess[:200] if r.best_guess else None,
            "score": r.score,
            "user_id": r.user_id[:32] if r.user_id else None,
            "created_at": r.created_at or now,
        }
        for r in rows
    ]
    if write_lock is None:
        with write_connection(engine) as conn:
            conn.execute(insert(UnansweredQuestion), values)
        return
    with write_lock, write_connection(engine) as conn:
        conn.execute(insert(UnansweredQuestion), values)


def prune_unanswered(engine: Engine, *, older_than: dt.datetime) -> int:
    """Delete rows recorded before ``older_than``; the number deleted."""
    with write_connection(engine) as conn:
        result = conn.execute(delete(UnansweredQuestion).where(UnansweredQuestion.created_at < older_than))
    return int(result.rowcount or 0)


def top_unanswered(
    engine: Engine, *, since: dt.datetime, team_id: str | None = None, limit: int = 20
) -> list[UnansweredSummary]:
    """The most asked unanswered questions since ``since`` (all teams when ``team_id`` is None),
    most frequent first, then most recent."""
    q = UnansweredQuestion
    where = [q.created_at >= since]
    if team_id is not None:
        where.append(q.team_id == team_id)
    count = func.count().label("n")
    last = func.max(q.created_at).label("last")
    with session_scope(engine) as session:
        groups = session.execute(
            select(q.query_key, count, func.min(q.created_at), last, func.count(func.distinct(q.team_id)))
            .where(*where)
            .group_by(q.query_key)
            .order_by(count.desc(), last.desc(), q.query_key)
            .limit(max(1, min(limit, 500)))
        ).all()
        keys = [g[0] for g in groups]
        detail: dict[str, list[tuple[str, str, str, str | None, dt.datetime]]] = {k: [] for k in keys}
        if keys:
            for key, text, surface, reason, guess, at in session.execute(
                select(q.query_key, q.query, q.surface, q.reason, q.best_guess, q.created_at)
                .where(*where, q.query_key.in_(keys))
                .order_by(q.created_at.desc(), q.id.desc())
            ):
                detail[key].append((text, surface, reason, guess, at))
    out = []
    for key, n, first, last_at, teams in groups:
        rows = detail[key]
        latest = rows[0] if rows else (key, "", "no_match", None, last_at)
        reasons = {r[2] for r in rows}
        out.append(
            UnansweredSummary(
                query=latest[0],
                count=int(n),
                reason="no_match" if "no_match" in reasons or not reasons else "low_confidence",
                surfaces=tuple(sorted({r[1] for r in rows})),
                teams=int(teams),
                first_seen=_aware(first),
                last_seen=_aware(last_at),
                best_guess=next((r[3] for r in rows if r[3]), None),
            )
        )
    return out


def _aware(value: dt.datetime) -> dt.datetime:
    """SQLite hands back naive datetimes; every stored time is UTC."""
    return value if value.tzinfo else value.replace(tzinfo=dt.UTC)
