"""Channel settings: incident cards on/off (``watch``) and the channel's default frameworks."""

from __future__ import annotations

import datetime as dt
from contextlib import AbstractContextManager
from dataclasses import dataclass

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
_VERSION_SQL = "SELECT version FROM settings_version WHERE id = 1"


def settings_version(engine: Engine) -> int:
    """The channel settings' version: moves with every change (0 before the first)."""
    conn = engine.raw_connection()
    try:
        cur = conn.cursor()
        try:
            cur.execute(_VERSION_SQL)
            row = cur.fetchone()
        finally:
            cur.close()
        conn.commit()  # end the read transaction the driver may have begun (psycopg does)
    finally:
        conn.close()
    return int(row[0]) if row else 0


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
