"""Incident-channel cards: which channels get them, which techniques a message names, and the
once-per-thread, rate-limited claim that makes sure a card is posted at most once.

A channel is watched when ``/attack watch on`` said so, or, with no explicit setting, when its
name matches one of ``settings.incident_channel_patterns`` (``inc-*``).  The claim is a unique row
in ``incident_cards`` (team, channel, thread, technique), taken in the same transaction as the
per-channel rate check, so several instances on one database never post the same card twice and
together stay within the limit.
"""

from __future__ import annotations

import fnmatch
import logging
import re
import threading
import time

from slack_sdk import WebClient
from slack_sdk.errors import SlackApiError, SlackClientError

from bot.config import Settings
from bot.ops import context
from store.db import Engine
from store.state.cards import Claim, claim_card, record_card_posted, release_card
from store.state.channels import (
    ChannelWatch,
    SettingsVersionReader,
    channel_watch_and_frameworks,
    channels_with_settings,
    save_channel_settings,
)
from store.state.processed_events import process_write_lock

log = logging.getLogger(__name__)

MAX_CARDS_PER_MESSAGE = 5
CHANNEL_NAME_SECONDS = 300
MAX_CHANNELS_KEPT = 20_000  # channel settings kept per process (a few MB at most)

_TECHNIQUE = re.compile(r"(?<![A-Za-z0-9])[Tt](\d{4})(?:\.(\d{3}))?(?![A-Za-z0-9]|\.\d)")
_TECHNIQUE_URL = re.compile(r"/techniques/(T\d{4})(?:/(\d{3}))?", re.IGNORECASE)
_SLACK_LINK = re.compile(r"<([^<>|]*)(?:\|([^<>]*))?>")
_CODE = re.compile(r"```.*?```|`[^`\n]*`", re.DOTALL)


def technique_ids_in(
    message: str, *, include_links: bool = False, limit: int = MAX_CARDS_PER_MESSAGE
) -> list[str]:
    """Technique IDs named in a Slack message, canonical (``T1048.003``), first mention first.

    Link targets are skipped unless ``include_links`` (an unfurl already covers a pasted link),
    and so is code (pasted logs mention IDs nobody is asking about).
    """
    found: dict[str, None] = {}

    def add(tid: str) -> None:
        if len(found) < limit:
            found.setdefault(tid, None)

    def keep_label(m: re.Match[str]) -> str:
        target, label = m.group(1), m.group(2)
        if include_links:
            for u in _TECHNIQUE_URL.finditer(target):
                add(u.group(1).upper() + (f".{u.group(2)}" if u.group(2) else ""))
        return f" {label} " if label else " "

    without_code = _CODE.sub(" ", message or "")
    plain = _SLACK_LINK.sub(keep_label, without_code)
    for m in _TECHNIQUE.finditer(plain):
        add(f"T{m.group(1)}" + (f".{m.group(2)}" if m.group(2) else ""))
    return list(found)


class CardPolicy:
    """Channel names cached briefly (they change rarely, and asking Slack is slow); channel
    settings never (see ``_settings``).  Safe to share between threads."""

    def __init__(self, engine: Engine, settings: Settings) -> None:
        self.engine = engine
        self.settings = settings
        self._names: dict[tuple[str, str], tuple[float, str | None]] = {}
        self._lock = threading.Lock()
        # Channel settings as read at ``_version`` of the settings (see ``_settings``).
        self._read: dict[tuple[str, str], tuple[bool | None, tuple[str, ...]]] = {}
        self._version = -1
        self.versions = SettingsVersionReader(engine)

    # -- which channels ------------------------------------------------------------------------

    def matches_pattern(self, channel_name: str | None) -> bool:
        if not channel_name:
            return False
        name = channel_name.lower().lstrip("#")
        return any(
            fnmatch.fnmatchcase(name, p.lower().lstrip("#")) for p in self.settings.incident_channel_patterns
        )

    def _settings(self, team_id: str, channel_id: str) -> tuple[bool | None, tuple[str, ...]]:
        """(watch, frameworks) of a channel.  Every call has the settings' version as read once
        the request was in (by its replay-guard claim, else here: one constant single-row
        select on the driver) and the process's copy of the channel's row is used only while
        that version has not moved: a change made on any worker or instance (``watch off``)
        holds on the very next message, and the row itself is read once per change rather than
        per message (``bench/http.py --settings``)."""
        ctx = context.current()
        version = ctx.settings_version if ctx is not None else None
        if version is None:
            version = self.versions.read()
        key = (team_id, channel_id)
        with self._lock:
            if version != self._version:
                self._read.clear()
                self._version = version
            hit = self._read.get(key)
        if hit is not None:
            return hit
        found = channel_watch_and_frameworks(self.engine, team_id, channel_id)
        with self._lock:
            if self._version == version:  # else a newer change came meanwhile: keep nothing
                if len(self._read) >= MAX_CHANNELS_KEPT:
                    self._read.clear()
                self._read[key] = found
        return found

    def watch_setting(self, team_id: str, channel_id: str) -> bool | None:
        return self._settings(team_id, channel_id)[0]

    def channel_frameworks(self, team_id: str, channel_id: str | None) -> tuple[str, ...]:
        """The channel's default frameworks (``/attack frameworks ...``); () for the global default."""
        if not team_id or not channel_id:
            return ()
        return self._settings(team_id, channel_id)[1]

    def channel_name(self, client: WebClient, team_id: str, channel_id: str) -> str | None:
        key = (team_id, channel_id)
        now = time.monotonic()
        with self._lock:
            hit = self._names.get(key)
        if hit and hit[0] > now:
            return hit[1]
        try:
            info = client.conversations_info(channel=channel_id).get("channel") or {}
            name = info.get("name")
        except (SlackApiError, SlackClientError):
            log.warning("conversations.info failed for %s; treating it as unwatched for now", channel_id)
            name = None
        with self._lock:
            self._names[key] = (now + CHANNEL_NAME_SECONDS, name)
        return name

    def is_watched(self, client: WebClient, team_id: str, channel_id: str) -> bool:
        setting = self.watch_setting(team_id, channel_id)
        if setting is not None:
            return setting
        return self.matches_pattern(self.channel_name(client, team_id, channel_id))

    def set_watch(self, team_id: str, channel_id: str, watch: bool | None, user_id: str) -> None:
        self._save(team_id, channel_id, user_id, {"watch": watch})

    def set_frameworks(
        self, team_id: str, channel_id: str, frameworks: tuple[str, ...], user_id: str
    ) -> None:
        self._save(team_id, channel_id, user_id, {"frameworks": list(frameworks) or None})

    def _save(self, team_id: str, channel_id: str, user_id: str, changes: dict[str, object]) -> None:
        lock = process_write_lock(self.engine)
        save_channel_settings(self.engine, team_id, channel_id, user_id, changes, lock)
        ctx = context.current()
        if ctx is not None:
            ctx.settings_version = None  # read again: this request's own change must show

    def team_channels(self, team_id: str) -> list[ChannelWatch]:
        """Channels of the team with a setting of their own (cards on/off, frameworks)."""
        return channels_with_settings(self.engine, team_id)

    # -- one card per technique per thread -------------------------------------------------------

    def claim(self, team_id: str, channel_id: str, thread_ts: str, technique_id: str) -> Claim:
        return claim_card(
            self.engine,
            team_id,
            channel_id,
            thread_ts,
            technique_id,
            per_minute=self.settings.card_rate_limit_per_minute,
            write_lock=process_write_lock(self.engine),
        )

    def posted(
        self, team_id: str, channel_id: str, thread_ts: str, technique_id: str, message_ts: str
    ) -> None:
        lock = process_write_lock(self.engine)
        record_card_posted(self.engine, team_id, channel_id, thread_ts, technique_id, message_ts, lock)

    def release(self, team_id: str, channel_id: str, thread_ts: str, technique_id: str) -> None:
        """Give a claim back after the post failed, so a later message can try again."""
        lock = process_write_lock(self.engine)
        release_card(self.engine, team_id, channel_id, thread_ts, technique_id, lock)
