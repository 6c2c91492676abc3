"""App Home: published on ``app_home_opened`` (Home tab), from the database as it is now."""

from __future__ import annotations

import datetime as dt
import logging
from typing import Any

from slack_bolt import App, BoltContext
from slack_sdk import WebClient

from bot.slack.listeners.common import Deps, Origin, guarded, just_ack
from bot.slack.messages.home import DigestLine, HomeData, LoadedFramework, home_view
from store.state.home import release_totals_and_last_change, team_digest_subscriptions
from store.state.lookups import recent_for_user
from store.state.unanswered import UnansweredSummary, top_unanswered

log = logging.getLogger(__name__)


def home_data(deps: Deps, team_id: str, user_id: str, *, admin: bool = False) -> HomeData:
    totals, last = release_totals_and_last_change(deps.answerer.engine)  # where answers come from
    by_fw: dict[str, tuple[dict[str, None], dict[str, None], list[int]]] = {}
    for r in totals:
        versions, attacks, total = by_fw.setdefault(r.framework, ({}, {}, [0]))
        versions.setdefault(r.framework_version, None)
        attacks.setdefault(r.attack_version, None)
        total[0] += r.mappings
    loaded = [LoadedFramework(fw, tuple(v), tuple(a), t[0]) for fw, (v, a, t) in by_fw.items()]
    channels = deps.cards.team_channels(team_id)
    return HomeData(
        loaded=loaded,
        last_sync=last.finished_at if last else None,
        last_sync_kind=last.kind if last else None,
        recent=recent_for_user(deps.engine, team_id, user_id),
        channels=channels,
        digests=_digests(deps, team_id),
        unanswered=_unanswered(deps, team_id) if admin else None,
        unanswered_days=deps.settings.unanswered_retention_days,
    )


def _unanswered(deps: Deps, team_id: str) -> list[UnansweredSummary]:
    since = dt.datetime.now(dt.UTC) - dt.timedelta(days=deps.settings.unanswered_retention_days)
    return top_unanswered(deps.engine, since=since, team_id=team_id, limit=10)


def _digests(deps: Deps, team_id: str) -> list[DigestLine]:
    return [
        DigestLine(s.channel_id, s.time_local, s.timezone, s.frameworks)
        for s in team_digest_subscriptions(deps.engine, team_id)
    ]


def register(app: App, deps: Deps) -> None:
    @guarded("app home")
    def publish_home(body: dict[str, Any], client: WebClient, context: BoltContext) -> None:
        event = body.get("event") or {}
        origin = Origin.of(context)
        if event.get("tab", "home") != "home" or not origin.user_id:
            return
        admin = deps.admin.may_change_settings(client, origin.team_id, origin.user_id).allowed
        view = home_view(deps.settings, home_data(deps, origin.team_id, origin.user_id, admin=admin))
        client.views_publish(user_id=origin.user_id, view=view)

    app.event("app_home_opened")(ack=just_ack, lazy=[publish_home])
