"""The ``lookups`` log: every question answered on Slack, for App Home and the channel digest.

Writing it must not slow an answer down (slash-command answers travel in the ack), so rows are
written by a small background worker; a failure to log is logged, never shown to the user.
"""

from __future__ import annotations

import datetime as dt
import logging
from collections.abc import Sequence
from concurrent.futures import Future, ThreadPoolExecutor
from dataclasses import dataclass

from sqlalchemy import Engine, insert, select

from bot.answer import Answer
from store.db import write_connection
from store.models import Lookup

log = logging.getLogger(__name__)

SOURCES = ("command", "mention", "dm", "card", "shortcut", "modal", "unfurl")
MAX_QUERY_CHARS = 500


@dataclass(frozen=True)
class RecentLookup:
    query: str
    source: str
    channel_id: str | None
    technique_ids: tuple[str, ...]
    capability_ids: tuple[str, ...]
    created_at: dt.datetime


class LookupLog:
    """Records look-ups off the request thread.  One per app; ``close`` drains the queue."""

    def __init__(self, engine: Engine, *, workers: int = 1) -> None:
        self.engine = engine
        self._pool = ThreadPoolExecutor(max_workers=workers, thread_name_prefix="cm-lookups")

    def record(
        self,
        answer: Answer,
        *,
        source: str,
        query: str,
        team_id: str | None,
        channel_id: str | None,
        user_id: str | None,
    ) -> Future[None] | None:
        """Queue one row, for answers about something (not help or "nothing found")."""
        if not team_id or not (answer.technique_ids or answer.capability_ids):
            return None
        row: dict[str, object] = {
            "team_id": team_id,
            "channel_id": channel_id,
            "user_id": user_id,
            "source": source,
            "query": query[:MAX_QUERY_CHARS],
            "technique_ids": list(answer.technique_ids),
            "capability_ids": list(answer.capability_ids),
            "created_at": dt.datetime.now(dt.UTC),
        }
        return self._pool.submit(self._write, row)

    def _write(self, row: dict[str, object]) -> None:
        try:
            with write_connection(self.engine) as conn:
                conn.execute(insert(Lookup), [row])
        except Exception:
            log.exception("could not log a look-up (%s)", row.get("source"))

    def close(self) -> None:
        self._pool.shutdown(wait=True)


def recent_for_user(engine: Engine, team_id: str, user_id: str, limit: int = 8) -> list[RecentLookup]:
    """The user's newest look-ups, newest first, one per distinct query."""
    stmt = (
        select(
            Lookup.query,
            Lookup.source,
            Lookup.channel_id,
            Lookup.technique_ids,
            Lookup.capability_ids,
            Lookup.created_at,
        )
        .where(Lookup.team_id == team_id, Lookup.user_id == user_id)
        .order_by(Lookup.created_at.desc(), Lookup.id.desc())
        .limit(limit * 4)
    )
    seen: set[str] = set()
    out: list[RecentLookup] = []
    with engine.connect() as conn:
        for row in conn.execute(stmt).mappings():
            key = row["query"].strip().lower()
            if key in seen:
                continue
            seen.add(key)
            out.append(
                RecentLookup(
                    query=row["query"],
                    source=row["source"],
                    channel_id=row["channel_id"],
                    technique_ids=_strs(row["technique_ids"]),
                    capability_ids=_strs(row["capability_ids"]),
                    created_at=row["created_at"],
                )
            )
            if len(out) >= limit:
                break
    return out


def _strs(value: Sequence[object] | None) -> tuple[str, ...]:
    return tuple(str(v) for v in value or ())
