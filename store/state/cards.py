"""Incident cards: the once-per-thread, rate-limited claim of a card (a unique row in
``incident_cards`` taken in the same transaction as the per-channel rate check, so several
instances on one database never post a card twice and together stay within the limit)."""

from __future__ import annotations

import datetime as dt
import enum
from contextlib import AbstractContextManager

from sqlalchemy import ColumnElement, Engine, delete, func, select, text, update
from sqlalchemy.dialects import postgresql, sqlite

from store.app_state import IncidentCard
from store.db import write_connection


class Claim(enum.Enum):
    CLAIMED = "claimed"
    DUPLICATE = "duplicate"  # already carded in this thread
    RATE_LIMITED = "rate_limited"


def claim_card(
    engine: Engine,
    team_id: str,
    channel_id: str,
    thread_ts: str,
    technique_id: str,
    *,
    per_minute: int,
    write_lock: AbstractContextManager[object],
) -> Claim:
    """Claim the card of ``technique_id`` in a thread, unless it is there already or the channel
    had ``per_minute`` cards in the last minute."""
    now = dt.datetime.now(dt.UTC)
    insert = postgresql.insert if engine.dialect.name == "postgresql" else sqlite.insert
    with write_lock, write_connection(engine) as conn:
        if conn.dialect.name == "postgresql":  # SQLite's BEGIN IMMEDIATE already serialises writers
            conn.execute(
                text("SELECT pg_advisory_xact_lock(hashtext(:k))"),
                {"k": f"cm-cards:{team_id}:{channel_id}"},
            )
        exists = conn.execute(
            select(IncidentCard.id).where(*_card(team_id, channel_id, thread_ts, technique_id))
        ).first()
        if exists:
            return Claim.DUPLICATE
        recent = conn.execute(
            select(func.count())
            .select_from(IncidentCard)
            .where(
                IncidentCard.team_id == team_id,
                IncidentCard.channel_id == channel_id,
                IncidentCard.posted_at >= now - dt.timedelta(minutes=1),
            )
        ).scalar_one()
        if recent >= per_minute:
            return Claim.RATE_LIMITED
        inserted = conn.execute(
            insert(IncidentCard)
            .values(
                team_id=team_id,
                channel_id=channel_id,
                thread_ts=thread_ts,
                technique_id=technique_id,
                posted_at=now,
            )
            .on_conflict_do_nothing(index_elements=["team_id", "channel_id", "thread_ts", "technique_id"])
            .returning(IncidentCard.id)
        ).first()
    return Claim.CLAIMED if inserted is not None else Claim.DUPLICATE


def record_card_posted(
    engine: Engine,
    team_id: str,
    channel_id: str,
    thread_ts: str,
    technique_id: str,
    message_ts: str,
    write_lock: AbstractContextManager[object],
) -> None:
    with write_lock, write_connection(engine) as conn:
        conn.execute(
            update(IncidentCard)
            .where(*_card(team_id, channel_id, thread_ts, technique_id))
            .values(message_ts=message_ts)
        )


def release_card(
    engine: Engine,
    team_id: str,
    channel_id: str,
    thread_ts: str,
    technique_id: str,
    write_lock: AbstractContextManager[object],
) -> None:
    """Give a claim back after the post failed, so a later message can try again."""
    with write_lock, write_connection(engine) as conn:
        conn.execute(delete(IncidentCard).where(*_card(team_id, channel_id, thread_ts, technique_id)))


def _card(
    team_id: str, channel_id: str, thread_ts: str, technique_id: str
) -> tuple[ColumnElement[bool], ...]:
    return (
        IncidentCard.team_id == team_id,
        IncidentCard.channel_id == channel_id,
        IncidentCard.thread_ts == thread_ts,
        IncidentCard.technique_id == technique_id,
    )
