"""The Slack app manifest: paste it at api.slack.com/apps → "Create New App" → "From a manifest".

Everything in it comes from ``bot.slack.constants`` (shared with the listeners) and the settings
(command name, shortcut techniques), so the app Slack is told about is the app that runs.
``tests/test_slack_manifest_*`` check it against the listeners the app registers.
"""

from __future__ import annotations

import re
from importlib.resources.abc import Traversable
from typing import Any, Literal
from urllib.parse import urlsplit

import yaml
from countermap_data import shipped

from bot.config import Settings
from bot.slack import constants

Mode = Literal["socket", "http"]

DEFAULT_NAME = "countermap"
COMMITTED_MANIFEST: Traversable = shipped("slack-manifest.yaml")

DESCRIPTION = "Which security controls cover a MITRE ATT&CK technique, and the reverse"
LONG_DESCRIPTION = (
    "countermap answers SOC questions about MITRE ATT&CK in Slack: which NIST 800-53, Microsoft 365, "
    "AWS, Azure, GCP, VERIS, CISA KEV, CRI Profile, CSA CCM and Intel vPro capabilities protect "
    "against, detect or respond to a technique, and which techniques a control covers. Its knowledge "
    "is the Center for Threat-Informed Defense Mappings Explorer data. Ask with /attack, mention "
    "the bot, send it a direct message, or turn on compact technique cards in incident channels."
)
BACKGROUND_COLOR = "#1d3557"

_COMMAND = re.compile(r"^/[a-z0-9_\-]{1,31}$")


class ManifestError(ValueError):
    """The settings or arguments cannot make a valid manifest; the message says which."""


MAX_SLASH_COMMANDS = 50  # Slack refuses a manifest with more


def _check_command(command: str) -> str:
    if not _COMMAND.match(command):
        raise ManifestError(
            f"command name {command!r} is not valid for Slack: a '/' then up to 31 lower-case "
            "letters, digits, '-' or '_' (setting command_name / COUNTERMAP_COMMAND)"
        )
    return command


def _check_base_url(url: str) -> str:
    parts = urlsplit(url)
    if parts.scheme != "https" or not parts.netloc or parts.query or parts.fragment:
        raise ManifestError(f"--http needs the public https:// address of the server, not {url!r}")
    return url.rstrip("/")


def _redirect(url: str) -> str:
    """An https redirect URL; a bare address gets the path ``serve`` answers on."""
    parts = urlsplit(url)
    if parts.scheme != "https" or not parts.netloc or parts.query or parts.fragment:
        raise ManifestError(
            f"--redirect-url needs the public https:// address of the install pages, not {url!r}"
        )
    root = url.rstrip("/")
    return root if parts.path not in ("", "/") else root + constants.OAUTH_REDIRECT_PATH


def slash_commands(settings: Settings, request_url: str | None) -> list[dict[str, Any]]:
    commands = []
    try:
        names = constants.all_commands(_check_command(settings.command_name), settings.shortcut_techniques)
    except ValueError as exc:  # a shortcut technique that cannot be a command
        raise ManifestError(f"shortcut_techniques: {exc}") from exc
    if len(names) > MAX_SLASH_COMMANDS:
        raise ManifestError(
            f"{len(names)} slash commands ({settings.command_name} and {len(names) - 1} shortcut techniques):"
            f" Slack allows at most {MAX_SLASH_COMMANDS} per app, so list at most {MAX_SLASH_COMMANDS - 1}"
            " in shortcut_techniques"
        )
    for name in names:
        command: dict[str, Any] = {"command": _check_command(name)}
        if request_url:
            command["url"] = request_url
        if name == settings.command_name:
            command["description"] = constants.COMMAND_DESCRIPTION
            command["usage_hint"] = constants.COMMAND_USAGE_HINT
        else:
            tid = constants.technique_of_command(name)
            same = f"{settings.command_name} {tid}"
            command["description"] = f"Controls mapped to ATT&CK {tid} (same as {same})"
            command["usage_hint"] = constants.SHORTCUT_COMMAND_USAGE_HINT
        command["should_escape"] = False
        commands.append(command)
    return commands


def build_manifest(
    settings: Settings,
    *,
    mode: Mode = "socket",
    base_url: str | None = None,
    name: str = DEFAULT_NAME,
    token_rotation: bool = False,
    redirect_url: str | None = None,
) -> dict[str, Any]:
    """The manifest as a mapping.  ``mode="http"`` needs ``base_url`` (the server's public https
    address); Socket Mode needs no URL at all, unless it is installed in many workspaces through
    OAuth: then ``redirect_url`` is where ``serve --socket --port`` serves the redirect page."""
    name = name.strip()
    if not name or len(name) > 35:
        raise ManifestError("--name must be 1 to 35 characters")
    if mode == "http":
        if not base_url:
            raise ManifestError("HTTP mode needs the server's public address: --http https://HOST")
        root = _check_base_url(base_url)
        request_url: str | None = root + constants.EVENTS_PATH
    elif mode == "socket":
        root, request_url = "", None
    else:
        raise ManifestError(f"unknown mode {mode!r}")

    features: dict[str, Any] = {
        "app_home": {
            "home_tab_enabled": True,
            "messages_tab_enabled": True,
            "messages_tab_read_only_enabled": False,
        },
        "bot_user": {"display_name": name, "always_online": True},
        "shortcuts": [
            {
                "name": constants.MESSAGE_SHORTCUT_NAME,
                "type": "message",
                "callback_id": constants.MESSAGE_SHORTCUT_CALLBACK_ID,
                "description": constants.MESSAGE_SHORTCUT_DESCRIPTION,
            },
            {
                "name": constants.GLOBAL_SHORTCUT_NAME,
                "type": "global",
                "callback_id": constants.GLOBAL_SHORTCUT_CALLBACK_ID,
                "description": constants.GLOBAL_SHORTCUT_DESCRIPTION,
            },
        ],
        "slash_commands": slash_commands(settings, request_url),
        "unfurl_domains": list(constants.UNFURL_DOMAINS),
    }
    oauth_config: dict[str, Any] = {}
    if redirect_url:
        oauth_config["redirect_urls"] = [_redirect(redirect_url)]
    elif request_url:
        oauth_config["redirect_urls"] = [root + constants.OAUTH_REDIRECT_PATH]
    oauth_config["scopes"] = {"bot": sorted(constants.BOT_SCOPES)}

    events: dict[str, Any] = {}
    interactivity: dict[str, Any] = {"is_enabled": True}
    if request_url:
        events["request_url"] = request_url
        interactivity["request_url"] = request_url
    events["bot_events"] = sorted(constants.BOT_EVENTS)

    return {
        "display_information": {
            "name": name,
            "description": DESCRIPTION,
            "background_color": BACKGROUND_COLOR,
            "long_description": LONG_DESCRIPTION,
        },
        "features": features,
        "oauth_config": oauth_config,
        "settings": {
            "event_subscriptions": events,
            "interactivity": interactivity,
            "org_deploy_enabled": False,
            "socket_mode_enabled": mode == "socket",
            "token_rotation_enabled": token_rotation,
        },
    }


def render_manifest(
    settings: Settings,
    *,
    mode: Mode = "socket",
    base_url: str | None = None,
    name: str = DEFAULT_NAME,
    token_rotation: bool = False,
    redirect_url: str | None = None,
) -> str:
    """The manifest as YAML, with a header saying how it was made."""
    manifest = build_manifest(
        settings,
        mode=mode,
        base_url=base_url,
        name=name,
        token_rotation=token_rotation,
        redirect_url=redirect_url,
    )
    how = "--socket" if mode == "socket" else f"--http {base_url}"
    if redirect_url:
        how += f" --redirect-url {redirect_url}"
    header = (
        f"# Slack app manifest for {name}, generated by `countermap manifest {how}`.\n"
        "# Create the app at https://api.slack.com/apps -> Create New App -> From a manifest.\n"
    )
    return header + yaml.safe_dump(manifest, sort_keys=False, allow_unicode=True, width=100)
