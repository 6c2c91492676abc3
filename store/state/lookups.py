"""The ``lookups`` log: every question answered on Slack, for App Home and the channel digest."""

from __future__ import annotations

import datetime as dt
from collections.abc import Sequence
from contextlib import AbstractContextManager
from dataclasses import dataclass

from sqlalchemy import Engine, insert, select

from store.app_state import Lookup
from store.db import write_connection

COLUMNS = (
    "team_id",
    "channel_id",
    "user_id",
    "source",
    "query",
    "technique_ids",
    "capability_ids",
    "created_at",
)
_SQLITE_ROWS = 1000  # rows per statement: 8 parameters each, far below SQLite's 32,766


@dataclass(frozen=True)
class RecentLookup:
    query: str
    source: str
    channel_id: str | None
    technique_ids: tuple[str, ...]
    capability_ids: tuple[str, ...]
    created_at: dt.datetime


def append_lookups(
    engine: Engine, rows: list[dict[str, object]], write_lock: AbstractContextManager[object]
) -> None:
    """Insert look-up rows (keys: ``COLUMNS``).  ``write_lock`` is held around each SQLite
    statement (the Slack side's writers queue on it instead of in SQLite's busy handler)."""
    if engine.dialect.name == "sqlite":
        _append_sqlite(engine, rows, write_lock)
    else:
        with write_connection(engine) as conn:
            conn.execute(insert(Lookup), rows)


def _append_sqlite(
    engine: Engine, rows: list[dict[str, object]], write_lock: AbstractContextManager[object]
) -> None:
    """One multi-row statement per chunk, its parameters made before taking the write lock.

    SQLite has one write lock for the whole database, and every request's replay guard needs
    it.  Inserted row by row (``executemany``), the lock stays held across one call into
    SQLite per row, and between calls this thread waits for the GIL behind the worker's busy
    threads: tens of milliseconds under load, during which every worker's requests wait.
    One statement takes the lock, inserts and commits inside a single call (no GIL held).
    """
    dialect = engine.dialect
    table = Lookup.__table__
    binds = [(name, table.c[name].type.bind_processor(dialect)) for name in COLUMNS]
    values = [bind(row[name]) if bind else row[name] for row in rows for name, bind in binds]
    width = len(COLUMNS)
    placeholders = "(" + ", ".join("?" * width) + ")"
    for start in range(0, len(rows), _SQLITE_ROWS):
        chunk = values[start * width : (start + _SQLITE_ROWS) * width]
        sql = f"INSERT INTO {Lookup.__tablename__} ({', '.join(COLUMNS)}) VALUES " + ", ".join(
            [placeholders] * (len(chunk) // width)
        )
        with write_lock:
            conn = engine.raw_connection()  # autocommit: the statement is its transaction
            try:
                cur = conn.cursor()
                cur.execute(sql, chunk)
                cur.close()
            finally:
                conn.close()


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
