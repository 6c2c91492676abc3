"""Channel settings: incident cards on/off (``watch``) and the channel's default frameworks."""

from __future__ import annotations

import contextlib
import datetime as dt
import os
import threading
from contextlib import AbstractContextManager
from dataclasses import dataclass
from typing import Any

from sqlalchemy import Engine, select
from sqlalchemy.dialects import postgresql, sqlite

from store.app_state import ChannelSettings, SettingsVersion
from store.db import write_connection


@dataclass(frozen=True)
class ChannelWatch:
    team_id: str
    channel_id: str
    watch: bool | None  # None: follow the incident channel name patterns
    updated_by: str | None
    frameworks: tuple[str, ...] = ()


def channel_watch_and_frameworks(
    engine: Engine, team_id: str, channel_id: str
) -> tuple[bool | None, tuple[str, ...]]:
    """(watch, frameworks) of a channel; (None, ()) when it has no setting of its own."""
    with engine.connect() as conn:
        row = conn.execute(
            select(ChannelSettings.watch, ChannelSettings.frameworks).where(
                ChannelSettings.team_id == team_id, ChannelSettings.channel_id == channel_id
            )
        ).first()
    return (row.watch, tuple(row.frameworks or ())) if row else (None, ())


# A constant statement run on the driver directly: no SQLAlchemy compilation or result
# processing on the per-message path (bench/http.py --settings prints what it costs).
SETTINGS_VERSION_SQL = "SELECT version FROM settings_version WHERE id = 1"


def settings_version(engine: Engine) -> int:
    """The channel settings' version: moves with every change (0 before the first)."""
    conn = engine.raw_connection()
    try:
        version = _read_version(conn)
        conn.commit()  # end the read transaction the driver may have begun (psycopg does)
    finally:
        conn.close()
    return version


def _read_version(conn: Any) -> int:
    cur = conn.cursor()
    try:
        cur.execute(SETTINGS_VERSION_SQL)
        row = cur.fetchone()
    finally:
        cur.close()
    return int(row[0]) if row else 0


class SettingsVersionReader:
    """``settings_version`` for every message, on a few driver connections kept for it in
    autocommit: no pool checkout, pre-ping or reset per read, and on PostgreSQL one round trip
    instead of three (ping, select, commit).  More readers at once than it keeps take the pool's
    path, as does a read whose kept connection failed (it is dropped: the database restarted).
    Connections are never shared across a fork (``close`` before it; a forked copy forgets them)."""

    KEEP = 4

    def __init__(self, engine: Engine) -> None:
        self.engine = engine
        self._idle: list[Any] = []  # connections detached from the pool
        self._kept = 0
        self._lock = threading.Lock()
        self._forks = _forks[0]

    def read(self) -> int:
        conn = self._take()
        if conn is None:
            return settings_version(self.engine)
        try:
            version = _read_version(conn)
        except Exception:
            self._drop(conn)
            return settings_version(self.engine)
        with self._lock:
            if self._forks == _forks[0]:  # else a copy of the parent's, left alone
                self._idle.append(conn)
        return version

    def open(self, count: int = KEEP) -> None:
        """Open the kept connections now (a worker before it serves), not in its first requests."""
        opened = []
        with self._lock:
            self._forget_after_fork()
            want, self._kept = max(0, count - self._kept), max(self._kept, count)
        try:
            for _ in range(want):
                opened.append(self._connect())
        finally:
            with self._lock:
                self._kept -= want - len(opened)
                self._idle.extend(opened)

    def close(self) -> None:
        """Close the kept connections (the gunicorn master, before it forks)."""
        with self._lock:
            idle, self._idle = self._idle, []
            self._kept -= len(idle)
        for conn in idle:
            with contextlib.suppress(Exception):
                conn.close()

    def _take(self) -> Any:
        with self._lock:
            self._forget_after_fork()
            if self._idle:
                return self._idle.pop()
            if self._kept >= self.KEEP:
                return None
            self._kept += 1
        try:
            return self._connect()
        except Exception:
            with self._lock:
                self._kept -= 1
            return None  # the pool's path says what is wrong

    def _connect(self) -> Any:
        conn = self.engine.raw_connection()
        conn.detach()  # ours until closed: the pool opens another in its place when it needs one
        if self.engine.dialect.name == "postgresql":
            conn.dbapi_connection.autocommit = True  # type: ignore[union-attr]
        return conn

    def _drop(self, conn: Any) -> None:
        with self._lock:
            self._kept -= 1
        with contextlib.suppress(Exception):
            conn.close()

    def _forget_after_fork(self) -> None:
        if self._forks != _forks[0]:  # the parent's connections: never close them from here
            self._forks, self._idle, self._kept = _forks[0], [], 0


_forks = [0]  # forks this process has been through (a pid check per read is a system call)


def _forked() -> None:
    _forks[0] += 1


if hasattr(os, "register_at_fork"):  # not on Windows, which does not fork
    os.register_at_fork(after_in_child=_forked)


def save_channel_settings(
    engine: Engine,
    team_id: str,
    channel_id: str,
    user_id: str,
    changes: dict[str, object],
    write_lock: AbstractContextManager[object],
) -> None:
    """Set ``changes`` (``watch`` and/or ``frameworks``) on the channel's row, creating it."""
    now = dt.datetime.now(dt.UTC)
    set_ = {**changes, "updated_by": user_id, "updated_at": now}
    insert = postgresql.insert if engine.dialect.name == "postgresql" else sqlite.insert
    stmt = (
        insert(ChannelSettings)
        .values(team_id=team_id, channel_id=channel_id, **set_)
        .on_conflict_do_update(index_elements=["team_id", "channel_id"], set_=set_)
    )
    bump = (
        insert(SettingsVersion)
        .values(id=1, version=1)
        .on_conflict_do_update(index_elements=["id"], set_={"version": SettingsVersion.version + 1})
    )
    with write_lock, write_connection(engine) as conn:
        conn.execute(stmt)
        conn.execute(bump)  # in the same transaction: no reader sees the new version without it


def channels_with_settings(engine: Engine, team_id: str) -> list[ChannelWatch]:
    """Channels of the team with a setting of their own (cards on/off, frameworks)."""
    with engine.connect() as conn:
        rows = conn.execute(
            select(
                ChannelSettings.channel_id,
                ChannelSettings.watch,
                ChannelSettings.updated_by,
                ChannelSettings.frameworks,
            )
            .where(ChannelSettings.team_id == team_id)
            .order_by(ChannelSettings.channel_id)
        ).all()
    found = [
        ChannelWatch(team_id, r.channel_id, r.watch, r.updated_by, tuple(r.frameworks or ())) for r in rows
    ]
    return [c for c in found if c.watch is not None or c.frameworks]
