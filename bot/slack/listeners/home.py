"""App Home: published on ``app_home_opened`` (Home tab), from the database as it is now."""

from __future__ import annotations

import logging
from typing import Any

from slack_bolt import App, BoltContext
from slack_sdk import WebClient
from sqlalchemy import func, select

from bot.slack.listeners.common import Deps, guarded, just_ack
from bot.slack.lookups import recent_for_user
from bot.slack.messages.home import DigestLine, HomeData, LoadedFramework, home_view
from store.app_state import SyncRun
from store.db import session_scope
from store.models import Release

log = logging.getLogger(__name__)


def home_data(deps: Deps, team_id: str, user_id: str) -> HomeData:
    with deps.answerer.engine.connect() as conn:  # the data the answers come from
        rows = conn.execute(
            select(
                Release.framework,
                Release.framework_version,
                Release.attack_version,
                func.sum(Release.mapping_count),
            )
            .group_by(Release.framework, Release.framework_version, Release.attack_version)
            .order_by(Release.framework, Release.framework_version, Release.attack_version)
        ).all()
        last = conn.execute(
            select(SyncRun.finished_at, SyncRun.kind)
            .where(SyncRun.finished_at.is_not(None))
            .order_by(SyncRun.finished_at.desc())
            .limit(1)
        ).first()
    by_fw: dict[str, tuple[dict[str, None], dict[str, None], list[int]]] = {}
    for fw, version, attack, count in rows:
        versions, attacks, total = by_fw.setdefault(fw, ({}, {}, [0]))
        versions.setdefault(version, None)
        attacks.setdefault(attack, None)
        total[0] += int(count or 0)
    loaded = [LoadedFramework(fw, tuple(v), tuple(a), t[0]) for fw, (v, a, t) in by_fw.items()]
    channels = deps.cards.team_channels(team_id)
    return HomeData(
        loaded=loaded,
        last_sync=last.finished_at if last else None,
        last_sync_kind=last.kind if last else None,
        recent=recent_for_user(deps.engine, team_id, user_id),
        channels=channels,
        digests=_digests(deps, team_id),
    )


def _digests(deps: Deps, team_id: str) -> list[DigestLine]:
    try:
        from bot.digest.subscriptions import team_subscriptions
    except ImportError:
        return []
    with session_scope(deps.engine) as session:
        return [
            DigestLine(s.channel_id, s.time_local, s.timezone, tuple(s.frameworks or ()))
            for s in team_subscriptions(session, team_id)
        ]


def register(app: App, deps: Deps) -> None:
    @guarded("app home")
    def publish_home(body: dict[str, Any], client: WebClient, context: BoltContext) -> None:
        event = body.get("event") or {}
        if event.get("tab", "home") != "home" or not event.get("user"):
            return
        team_id = context.team_id or body.get("team_id") or ""
        view = home_view(deps.settings, home_data(deps, team_id, event["user"]))
        client.views_publish(user_id=event["user"], view=view)

    app.event("app_home_opened")(ack=just_ack, lazy=[publish_home])
