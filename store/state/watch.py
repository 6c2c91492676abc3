"""A channel's watch list: the techniques its digest subscription follows."""

from __future__ import annotations

from sqlalchemy import Engine, select

from store.app_state import DigestSubscription
from store.db import session_scope


def channel_watch_list(engine: Engine, team_id: str, channel_id: str) -> list[str]:
    with session_scope(engine) as session:
        watch = session.execute(
            select(DigestSubscription.watch).where(
                DigestSubscription.team_id == team_id, DigestSubscription.channel_id == channel_id
            )
        ).scalar_one_or_none()
    return [str(t) for t in watch or ()]
