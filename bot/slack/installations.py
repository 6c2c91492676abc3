"""Bot tokens for work that runs outside a Slack request (the digest scheduler).

Bolt rotates expiring tokens only while it handles a request, so a background poster must find
the installation itself, rotate the token when it is close to expiry and save the result where
the web workers will read it.
"""

from __future__ import annotations

import logging
import threading
import time
import weakref
from collections.abc import Callable

from slack_sdk.oauth.installation_store import Installation
from slack_sdk.oauth.token_rotation import TokenRotator
from slack_sdk.oauth.token_rotation.rotator import SlackTokenRotationError

from bot.config import Settings
from bot.slack.oauth import (
    TOKEN_ROTATION_MINUTES,
    SlackNotConfigured,
    ensure_oauth_tables,
    installation_store,
    uses_oauth,
    web_client,
)
from store.db import Engine

log = logging.getLogger(__name__)


class NotInstalled(LookupError):
    """The workspace has no installation (never installed, or uninstalled since)."""


_locks: dict[tuple[str | None, str | None], threading.Lock] = {}
_locks_guard = threading.Lock()
_tables_ready: weakref.WeakSet[Engine] = weakref.WeakSet()  # engines whose OAuth tables exist


def _lock_for(key: tuple[str | None, str | None]) -> threading.Lock:
    with _locks_guard:
        return _locks.setdefault(key, threading.Lock())


def _expiring(installation: Installation, minutes: int) -> bool:
    expires = installation.bot_token_expires_at
    return expires is not None and expires <= time.time() + minutes * 60


def bot_token_for(
    engine: Engine,
    settings: Settings,
    team_id: str | None,
    enterprise_id: str | None = None,
    *,
    minutes_before_expiration: int = TOKEN_ROTATION_MINUTES,
) -> str:
    """The bot token to post to ``team_id`` with.

    One workspace: ``SLACK_BOT_TOKEN``.  Many: the newest installation's token, rotated first if it
    expires within ``minutes_before_expiration`` (the rotated installation is saved).  Raises
    ``NotInstalled`` when the workspace has no installation, ``SlackNotConfigured`` without any
    credentials.
    """
    if not uses_oauth(settings):
        if settings.slack_bot_token:
            return settings.slack_bot_token
        raise SlackNotConfigured()
    store = installation_store(settings, engine)
    if engine not in _tables_ready:
        ensure_oauth_tables([store], engine)
        _tables_ready.add(engine)

    def find() -> Installation | None:
        found = store.find_installation(enterprise_id=enterprise_id, team_id=team_id)
        if found is None and enterprise_id:  # an org-wide install covers every workspace of the org
            found = store.find_installation(
                enterprise_id=enterprise_id, team_id=None, is_enterprise_install=True
            )
        return found

    installation = find()
    if installation is None or not installation.bot_token:
        raise NotInstalled(f"countermap is not installed in workspace {team_id or enterprise_id}")
    if not _expiring(installation, minutes_before_expiration):
        return installation.bot_token

    with _lock_for((enterprise_id, team_id)):
        return _rotate(settings, store.save, find, minutes_before_expiration)


def _rotate(
    settings: Settings,
    save: Callable[[Installation], None],
    find: Callable[[], Installation | None],
    minutes: int,
) -> str:
    current = find()  # another thread may have rotated while we waited for the lock
    if current is None or not current.bot_token:
        raise NotInstalled("the installation was removed while rotating its token")
    if not _expiring(current, minutes):
        return current.bot_token
    assert settings.slack_client_id and settings.slack_client_secret  # uses_oauth() checked both
    rotator = TokenRotator(
        client_id=settings.slack_client_id,
        client_secret=settings.slack_client_secret,
        client=web_client(settings),
    )
    try:
        rotated = rotator.perform_token_rotation(installation=current, minutes_before_expiration=minutes)
    except SlackTokenRotationError:
        # Another process may have used the same refresh token a moment ago: take its result.
        again = find()
        if again is not None and again.bot_token and not _expiring(again, minutes):
            return again.bot_token
        raise
    if rotated is None:  # nothing to rotate (no refresh token): the token is what it is
        return current.bot_token
    save(rotated)
    log.info("rotated the bot token of %s", current.team_id or current.enterprise_id)
    assert rotated.bot_token
    return rotated.bot_token
