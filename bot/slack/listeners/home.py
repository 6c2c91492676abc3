"""App Home: published on ``app_home_opened`` (Home tab), from the database as it is now."""

from __future__ import annotations

import datetime as dt
import logging
from collections.abc import Callable, Iterable
from typing import Any

from slack_bolt import App, BoltContext
from slack_sdk import WebClient

from bot.delivery_problems import failed_delivery_line
from bot.render.inventory import inventory_mrkdwn, inventory_plain
from bot.slack.listeners.common import Deps, Origin, guarded, just_ack
from bot.slack.messages import home_inventory
from bot.slack.messages.home import DigestLine, HomeData, LoadedFramework, home_view
from store.state.home import release_totals_and_last_change, team_digest_subscriptions, version_key
from store.state.inventory import WORKSPACE
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
    loaded = [LoadedFramework(fw, _sorted(v), _sorted(a), t[0]) for fw, (v, a, t) in by_fw.items()]
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
        inventory_text=_inventory(deps, team_id),
        inventory_admin=admin,
    )


def _sorted(versions: Iterable[str]) -> tuple[str, ...]:
    """As people read versions: ATT&CK 8.2, 9.0, … 16.1 (the database sorts them as text)."""
    return tuple(sorted(versions, key=version_key))


def _inventory(deps: Deps, team_id: str) -> str | None:
    if deps.inventory is None or not team_id:
        return None
    return inventory_mrkdwn(deps.inventory.listing(team_id, None), command=deps.settings.command_name)


def _unanswered(deps: Deps, team_id: str) -> list[UnansweredSummary]:
    since = dt.datetime.now(dt.UTC) - dt.timedelta(days=deps.settings.unanswered_retention_days)
    return top_unanswered(deps.engine, since=since, team_id=team_id, limit=10)


def _digests(deps: Deps, team_id: str) -> list[DigestLine]:
    return [
        DigestLine(
            s.channel_id,
            s.time_local,
            s.timezone,
            s.frameworks,
            failed_delivery_line(s.last_date, s.last_status, s.last_error)
            if s.last_date and s.last_status
            else None,
        )
        for s in team_digest_subscriptions(deps.engine, team_id)
    ]


def register(app: App, deps: Deps) -> None:
    @guarded("app home")
    def publish_home(body: dict[str, Any], client: WebClient, context: BoltContext) -> None:
        event = body.get("event") or {}
        origin = Origin.of(context)
        if event.get("tab", "home") != "home" or not origin.user_id:
            return
        _publish(deps, client, origin)

    app.event("app_home_opened")(ack=just_ack, lazy=[publish_home])

    def open_inventory_modal(
        ack: Callable[..., None], body: dict[str, Any], client: WebClient, context: BoltContext
    ) -> None:
        ack()
        action = str(((body.get("actions") or [{}])[0] or {}).get("value") or "add")
        client.views_open(trigger_id=body.get("trigger_id"), view=home_inventory.inventory_modal(action))

    app.action(home_inventory.ADD)(open_inventory_modal)
    app.action(home_inventory.REMOVE)(open_inventory_modal)

    def on_inventory_submit(
        ack: Callable[..., None], body: dict[str, Any], client: WebClient, context: BoltContext
    ) -> None:
        origin = Origin.of(context)
        view = body.get("view") or {}
        values = (view.get("state") or {}).get("values") or {}
        ids = str(
            ((values.get(home_inventory.IDS_BLOCK) or {}).get(home_inventory.IDS_INPUT) or {}).get("value")
            or ""
        )
        status = ((values.get(home_inventory.STATUS_BLOCK) or {}).get(home_inventory.STATUS_INPUT) or {}).get(
            "selected_option"
        ) or {}
        decision = deps.admin.may_change_settings(client, origin.team_id, origin.user_id)
        if not decision.allowed or deps.inventory is None:
            ack(
                response_action="errors",
                errors={home_inventory.IDS_BLOCK: decision.reason or "Not available."},
            )
            return
        service, user = deps.inventory, origin.user_id or None
        if view.get("private_metadata") == "remove":
            outcome = service.remove(origin.team_id, WORKSPACE, ids, user)
        else:
            planned = "planned " if status.get("value") == "planned" else ""
            outcome = service.add(origin.team_id, WORKSPACE, planned + ids, user)
        if not outcome.ok:
            message = " ".join(inventory_plain(outcome, command=deps.settings.command_name).split())
            ack(response_action="errors", errors={home_inventory.IDS_BLOCK: message[:500]})
            return
        ack()
        _publish(deps, client, origin)

    app.view(home_inventory.MODAL)(on_inventory_submit)


def _publish(deps: Deps, client: WebClient, origin: Origin) -> None:
    admin = deps.admin.may_change_settings(client, origin.team_id, origin.user_id).allowed
    view = home_view(deps.settings, home_data(deps, origin.team_id, origin.user_id, admin=admin))
    client.views_publish(user_id=origin.user_id, view=view)
