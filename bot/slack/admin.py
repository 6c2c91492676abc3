"""Who may change a channel's settings (incident cards on/off, digest subscriptions).

``settings.admin_mode``:

* ``channel_members``: anyone who can use the command in the channel (the Slack default for apps);
* ``workspace_admins``: workspace admins and owners (``users.info``), plus ``settings.admins``;
* ``configured``: only the user IDs in ``settings.admins``.

An unknown mode refuses everyone: a typo in the configuration must not open settings to all.
"""

from __future__ import annotations

import logging
import threading
import time
from dataclasses import dataclass

from slack_sdk import WebClient
from slack_sdk.errors import SlackApiError, SlackClientError

from bot.config import Settings

log = logging.getLogger(__name__)

MODES = ("channel_members", "workspace_admins", "configured")
CACHE_SECONDS = 300


@dataclass(frozen=True)
class Decision:
    allowed: bool
    reason: str = ""  # why not, in words for the user


class AdminPolicy:
    def __init__(self, settings: Settings) -> None:
        self.settings = settings
        self._cache: dict[tuple[str, str], tuple[float, bool]] = {}
        self._lock = threading.Lock()

    def may_change_settings(self, client: WebClient, team_id: str, user_id: str) -> Decision:
        mode = self.settings.admin_mode
        if user_id in self.settings.admins:
            return Decision(True)
        if mode == "channel_members":
            return Decision(True)
        if mode == "configured":
            return Decision(False, "Only the admins named in countermap's configuration can change this.")
        if mode == "workspace_admins":
            try:
                is_admin = self._workspace_admin(client, team_id, user_id)
            except (SlackApiError, SlackClientError):
                log.exception("users.info failed while checking whether %s is an admin", user_id)
                return Decision(False, "I couldn't check your admin rights with Slack; please try again.")
            if is_admin:
                return Decision(True)
            return Decision(False, "Only workspace admins and owners can change this.")
        log.error("unknown admin_mode %r: refusing settings changes", mode)
        return Decision(
            False, "Channel settings are locked: the admin mode in the configuration is not valid."
        )

    def _workspace_admin(self, client: WebClient, team_id: str, user_id: str) -> bool:
        key = (team_id, user_id)
        now = time.monotonic()
        with self._lock:
            hit = self._cache.get(key)
        if hit and hit[0] > now:
            return hit[1]
        user = client.users_info(user=user_id).get("user") or {}
        is_admin = bool(user.get("is_admin") or user.get("is_owner") or user.get("is_primary_owner"))
        with self._lock:
            self._cache[key] = (now + CACHE_SECONDS, is_admin)
        return is_admin
