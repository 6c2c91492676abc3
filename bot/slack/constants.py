"""Names shared by the Bolt listeners (part A) and the manifest / runner (part B).

A Slack app's manifest and its listeners must agree on every callback ID, command and event;
keeping them here means a rename cannot break one side silently.  Command names that depend on
the configuration (``settings.command_name``, ``settings.shortcut_techniques``) are built by
``shortcut_command`` / ``all_commands``.
"""

from __future__ import annotations

import re
from collections.abc import Iterable

# --------------------------------------------------------------------------- shortcuts and views

# Message shortcut "Look up ATT&CK mappings": resolves the IDs found in the message.
MESSAGE_SHORTCUT_CALLBACK_ID = "cm_lookup_message"
MESSAGE_SHORTCUT_NAME = "Look up ATT&CK mappings"
MESSAGE_SHORTCUT_DESCRIPTION = "Controls mapped to the ATT&CK techniques named in this message"

# Global shortcut: opens the search modal.
GLOBAL_SHORTCUT_CALLBACK_ID = "cm_search"
GLOBAL_SHORTCUT_NAME = "Search ATT&CK mappings"
GLOBAL_SHORTCUT_DESCRIPTION = "Find the controls mapped to a technique, or the techniques of a control"

# The search modal (views.open / views.update / view_submission).
SEARCH_MODAL_CALLBACK_ID = "cm_search_modal"

# --------------------------------------------------------------------------- commands

DEFAULT_COMMAND = "/attack"
COMMAND_DESCRIPTION = "Which controls cover an ATT&CK technique, and the reverse"
COMMAND_USAGE_HINT = "T1048 SC-07 | SC-07 | T1059 aws | help"
SHORTCUT_COMMAND_USAGE_HINT = "[control or framework] e.g. SC-07, m365"

_TECHNIQUE_COMMAND = re.compile(r"^/t\d{4}(?:\.\d{3})?$", re.IGNORECASE)


def shortcut_command(technique_id: str) -> str:
    """``T1048`` → ``/t1048``.  Slack command names are lower case and cannot contain a dot, so
    sub-techniques are not offered as commands."""
    tid = technique_id.strip().upper()
    if not re.fullmatch(r"T\d{4}", tid):
        raise ValueError(f"not a technique ID usable as a slash command: {technique_id!r}")
    return "/" + tid.lower()


def is_technique_command(command: str) -> bool:
    """True for a registered shortcut command such as ``/t1048``."""
    return bool(_TECHNIQUE_COMMAND.match(command))


def technique_of_command(command: str) -> str:
    """``/t1048`` → ``T1048``."""
    return command.lstrip("/").upper()


def all_commands(command_name: str, shortcut_techniques: Iterable[str]) -> tuple[str, ...]:
    """The main command followed by one shortcut command per configured technique, de-duplicated."""
    seen: dict[str, None] = {command_name: None}
    for tid in shortcut_techniques:
        seen.setdefault(shortcut_command(tid), None)
    return tuple(seen)


# --------------------------------------------------------------------------- HTTP paths

EVENTS_PATH = "/slack/events"  # events, commands, interactivity and options all arrive here
INSTALL_PATH = "/slack/install"
OAUTH_REDIRECT_PATH = "/slack/oauth_redirect"
HEALTH_PATH = "/healthz"  # liveness
READY_PATH = "/readyz"  # readiness: database, data, index

# --------------------------------------------------------------------------- link unfurling

UNFURL_DOMAINS = ("attack.mitre.org", "center-for-threat-informed-defense.github.io")

# --------------------------------------------------------------------------- manifest: events and scopes

# Bot events the app subscribes to.  The manifest test checks this against the listeners the app
# actually registers, in both directions.
BOT_EVENTS = (
    "app_home_opened",
    "app_mention",
    "app_uninstalled",
    "link_shared",
    "message.channels",  # incident-channel cards in public channels
    "message.groups",  # ... and in private channels
    "message.im",  # direct messages: every message is a question
    "tokens_revoked",
)

# Bot token scopes.  The manifest test checks these against the events subscribed and the Web
# API methods the app calls, in both directions.
BOT_SCOPES = (
    "app_mentions:read",  # app_mention
    "channels:history",  # message.channels
    "channels:join",  # conversations.join: a public channel asked for a digest or cards
    "channels:read",  # conversations.info: channel names for the incident-channel pattern
    "chat:write",  # chat.postMessage / chat.postEphemeral / chat.update
    "commands",  # slash commands and shortcuts
    "files:read",  # files.list and downloads: `inventory import` of a file shared in the channel
    "files:write",  # files_upload_v2 for exports
    "groups:history",  # message.groups
    "groups:read",  # conversations.info on private channels
    "im:history",  # message.im
    "im:write",  # conversations.open: exports sent to the requester only
    "links:read",  # link_shared
    "links:write",  # chat.unfurl
    "users:read",  # users.info: workspace admin check, time zones
)
