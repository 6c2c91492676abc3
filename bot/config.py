"""Settings: environment variables over an optional YAML file over defaults.

One frozen object, built once per process, so every layer reads the same values and tests
can build their own without touching ``os.environ``.
"""

from __future__ import annotations

import os
from collections.abc import Mapping
from dataclasses import dataclass, field, fields, replace
from pathlib import Path
from typing import Any

PROJECT_ROOT = Path(__file__).resolve().parent.parent
DATA_DIR = PROJECT_ROOT / "data"

ALL_FRAMEWORKS = (
    "nist_800_53",
    "m365",
    "aws",
    "azure",
    "gcp",
    "veris",
    "kev",
    "cri_profile",
    "csa_ccm",
    "intel-vpro",
)


class ConfigError(ValueError):
    """The configuration file or an environment variable is wrong; the message says where."""


@dataclass(frozen=True)
class Settings:
    database_url: str | None = None
    # Where a local copy of the official files lives (tests and benchmarks: ../shared).
    corpus_dir: Path | None = None
    sources_file: Path = DATA_DIR / "sources.yaml"
    alias_files: tuple[Path, ...] = ()  # admins' own alias files, on top of data/aliases.yaml
    # Slack
    slack_bot_token: str | None = None
    slack_signing_secret: str | None = None
    slack_app_token: str | None = None
    slack_client_id: str | None = None
    slack_client_secret: str | None = None
    slack_api_url: str | None = None
    command_name: str = "/attack"
    shortcut_techniques: tuple[str, ...] = ("T1048", "T1059", "T1078", "T1110", "T1190", "T1486", "T1566")
    incident_channel_patterns: tuple[str, ...] = ("inc-*", "incident-*")
    card_rate_limit_per_minute: int = 6
    admins: tuple[str, ...] = ()  # Slack user IDs allowed to change channel settings
    admin_mode: str = "channel_members"  # channel_members | workspace_admins | configured
    # Answers
    default_frameworks: tuple[str, ...] = ("nist_800_53", "m365")
    # Digests
    digest_time: str = "09:00"
    digest_timezone: str | None = None  # None: the user's Slack timezone, else UTC
    digest_frameworks: tuple[str, ...] = ("nist_800_53", "m365")
    digest_catch_up_minutes: int = 180
    digest_poll_seconds: int = 30
    # A claim older than this whose claimer never recorded the post is taken over (after checking
    # the channel for the post).  Longer than the slowest post with its retries.
    digest_claim_timeout_seconds: int = 600
    extra: Mapping[str, Any] = field(default_factory=dict)

    def with_(self, **changes: Any) -> Settings:
        return replace(self, **changes)


_ENV = {
    "DATABASE_URL": "database_url",
    "COUNTERMAP_CORPUS": "corpus_dir",
    "COUNTERMAP_SOURCES": "sources_file",
    "SLACK_BOT_TOKEN": "slack_bot_token",
    "SLACK_SIGNING_SECRET": "slack_signing_secret",
    "SLACK_APP_TOKEN": "slack_app_token",
    "SLACK_CLIENT_ID": "slack_client_id",
    "SLACK_CLIENT_SECRET": "slack_client_secret",
    "SLACK_API_URL": "slack_api_url",
    "COUNTERMAP_COMMAND": "command_name",
}

_TUPLES = {f.name for f in fields(Settings) if str(f.type).startswith("tuple")}
_PATHS = {"corpus_dir", "sources_file"}
_INTS = {
    "card_rate_limit_per_minute",
    "digest_catch_up_minutes",
    "digest_poll_seconds",
    "digest_claim_timeout_seconds",
}


def _coerce(name: str, value: Any, where: str) -> Any:
    if value is None:
        return None
    if name in _TUPLES:
        if isinstance(value, str):
            value = [v for v in (p.strip() for p in value.split(",")) if v]
        if not isinstance(value, list | tuple):
            raise ConfigError(f"{where}: {name} must be a list")
        items = tuple(str(v) for v in value)
        return tuple(Path(v).expanduser() for v in items) if name == "alias_files" else items
    if name in _PATHS:
        return Path(str(value)).expanduser()
    if name in _INTS:
        try:
            return int(value)
        except (TypeError, ValueError) as exc:
            raise ConfigError(f"{where}: {name} must be a whole number, not {value!r}") from exc
    return str(value)


def load_settings(config_file: str | Path | None = None, env: Mapping[str, str] | None = None) -> Settings:
    """Defaults, then the YAML file (``--config`` or ``COUNTERMAP_CONFIG``), then the environment."""
    env = os.environ if env is None else env
    values: dict[str, Any] = {}
    known = {f.name for f in fields(Settings)}
    path = config_file or env.get("COUNTERMAP_CONFIG")
    if path:
        import yaml  # here, not at the top: a cold `countermap ask` without a file never needs it

        p = Path(path).expanduser()
        try:
            raw = yaml.safe_load(p.read_text(encoding="utf-8")) or {}
        except (OSError, yaml.YAMLError) as exc:
            raise ConfigError(f"{p}: cannot read configuration: {exc}") from exc
        if not isinstance(raw, dict):
            raise ConfigError(f"{p}: the configuration must be a mapping of settings")
        extra: dict[str, Any] = {}
        for key, value in raw.items():
            if key in known and key != "extra":
                values[key] = _coerce(key, value, str(p))
                if key == "alias_files":  # relative to the config file
                    values[key] = tuple(v if v.is_absolute() else p.parent / v for v in values[key])
            else:
                extra[key] = value
        values["extra"] = extra
    for var, name in _ENV.items():
        if env.get(var):
            values[name] = _coerce(name, env[var], var)
    return Settings(**values)
