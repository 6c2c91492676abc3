"""Settings: environment variables over an optional YAML file over defaults.

One frozen, typed object, built once per process, so every layer reads the same values and tests
can build their own without touching ``os.environ``.  Every setting can come from the file or from
``COUNTERMAP_<KEY>`` (lists comma-separated); a few also keep their conventional names
(``DATABASE_URL``, ``SLACK_BOT_TOKEN``...).  Everything is checked here, at start: an unknown key is
an error naming the key, the file and the nearest valid key, and a bad type, time zone, time or
mode names its key, rather than surfacing as odd behaviour at runtime.

A small validator rather than pydantic: importing pydantic costs ~0.27 s on this machine, paid
by every ``countermap ask``; this module imports in ~25 ms (most of it dataclasses and pathlib,
which the CLI needs anyway).
"""

from __future__ import annotations

import difflib
import os
import re
import zoneinfo
from collections.abc import Mapping
from dataclasses import dataclass, field, fields, replace
from importlib.resources.abc import Traversable
from pathlib import Path
from typing import Any

from countermap_data import shipped

from store.views import FRAMEWORKS

ALL_FRAMEWORKS = FRAMEWORKS  # the keys store knows; their names for users are in bot.labels


class ConfigError(ValueError):
    """The configuration file or an environment variable is wrong; the message says where."""


@dataclass(frozen=True)
class Settings:
    database_url: str | None = field(default=None, repr=False)  # may carry a password
    # Where a local copy of the official files lives (tests and benchmarks: ../shared).
    corpus_dir: Path | None = None
    # The shipped catalogue unless COUNTERMAP_SOURCES / sources_file names a file.
    sources_file: Traversable = field(default_factory=lambda: shipped("sources.yaml"))
    alias_files: tuple[Path, ...] = ()  # admins' own alias files, on top of data/aliases.yaml
    # Slack
    slack_bot_token: str | None = field(default=None, repr=False)
    slack_signing_secret: str | None = field(default=None, repr=False)
    slack_app_token: str | None = field(default=None, repr=False)
    slack_client_id: str | None = None
    slack_client_secret: str | None = field(default=None, repr=False)
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
    # Sync: discovery of new releases, and the bounds of one run
    sync_discover: bool = True
    sync_frameworks: tuple[str, ...] = ()  # empty: every framework upstream publishes
    sync_attack_version: str = "latest"
    sync_attack_index_url: str = (
        "https://raw.githubusercontent.com/mitre-attack/attack-stix-data/master/index.json"
    )
    sync_mappings_tree_url: str = (
        "https://api.github.com/repos/center-for-threat-informed-defense/mappings-explorer/git/trees/main"
    )
    sync_mappings_raw_url: str = (
        "https://raw.githubusercontent.com/center-for-threat-informed-defense/mappings-explorer/main/"
    )
    github_token: str | None = field(default=None, repr=False)
    sync_deadline_seconds: int = 1800
    sync_retry_after_cap_seconds: int = 60
    sync_min_rate_bytes: int = 2048
    # Operations
    log_format: str = "text"  # text | json
    heartbeat_stale_seconds: int = 120
    # The digest clock's own /metrics port (0: none; a host that shares PROMETHEUS_MULTIPROC_DIR
    # with the web server shows the clock's values in the server's scrape instead).
    metrics_port: int = 0
    # Unanswered questions (for admins' alias work): kept this many days; user IDs only if asked;
    # an answer whose best match scores under the threshold (0..100) counts as a guess.
    unanswered_retention_days: int = 30
    unanswered_keep_user_ids: bool = False
    unanswered_min_score: int = 75
    # Settings of extensions, under `extensions:` in the file (never checked here).
    extra: Mapping[str, Any] = field(default_factory=dict)

    def with_(self, **changes: Any) -> Settings:
        return replace(self, **changes)


SECRETS = frozenset(
    {"slack_bot_token", "slack_signing_secret", "slack_app_token", "slack_client_secret", "github_token"}
)

# Conventional names some settings also answer to (COUNTERMAP_<KEY> works for every setting).
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
# COUNTERMAP_* variables that are not settings (so `config check` does not call them typos).
NON_SETTING_ENV = frozenset(
    {"COUNTERMAP_CONFIG", "COUNTERMAP_TEST_PG", "COUNTERMAP_TEST_BACKENDS", "COUNTERMAP_TEST_DIE_AFTER_POST"}
)

ADMIN_MODES = ("channel_members", "workspace_admins", "configured")
LOG_FORMATS = ("text", "json")
MAX_SHORTCUTS = 49  # Slack allows 50 slash commands per app; one is `command_name`
_KINDS = {f.name: str(f.type) for f in fields(Settings) if f.name != "extra"}
_TIME = re.compile(r"^([01]\d|2[0-3]):[0-5]\d$")
_TECHNIQUE = re.compile(r"^T\d{4}$")


def env_name(key: str) -> str:
    return "COUNTERMAP_" + key.upper()


def _suggest(key: str) -> str:
    close = difflib.get_close_matches(key, list(_KINDS), n=1, cutoff=0.6)
    return f" (did you mean {close[0]}?)" if close else ""


def _coerce(name: str, value: Any, where: str) -> Any:
    kind = _KINDS[name]
    if value is None:
        if "None" in kind:
            return None
        raise ConfigError(f"{where}: {name} cannot be empty")
    if kind.startswith("tuple"):
        if isinstance(value, str):
            value = [v for v in (p.strip() for p in value.split(",")) if v]
        if not isinstance(value, list | tuple) or any(isinstance(v, dict | list) for v in value):
            raise ConfigError(f"{where}: {name} must be a list of values, not {value!r}")
        items = tuple(str(v) for v in value)
        return tuple(Path(v).expanduser() for v in items) if "Path" in kind else items
    if isinstance(value, dict | list):
        raise ConfigError(f"{where}: {name} must be a single value, not {value!r}")
    if kind.startswith("Path"):
        return Path(str(value)).expanduser()
    if kind == "int":
        if isinstance(value, bool):
            raise ConfigError(f"{where}: {name} must be a whole number, not {value!r}")
        try:
            number = int(str(value).strip())
        except (TypeError, ValueError) as exc:
            raise ConfigError(f"{where}: {name} must be a whole number, not {value!r}") from exc
        if number < 0:
            raise ConfigError(f"{where}: {name} must not be negative, not {number}")
        return number
    if kind == "bool":
        if isinstance(value, bool):
            return value
        text = str(value).strip().lower()
        if text in ("1", "true", "yes", "on"):
            return True
        if text in ("0", "false", "no", "off"):
            return False
        raise ConfigError(f"{where}: {name} must be true or false, not {value!r}")
    return str(value)


def _check(settings: Settings, where: dict[str, str]) -> None:
    """Values each of the right type, but also meaningful: errors name the key and its source."""

    def fail(key: str, problem: str) -> None:
        raise ConfigError(f"{where.get(key, 'default')}: {key} {problem}")

    if settings.admin_mode not in ADMIN_MODES:
        fail("admin_mode", f"must be one of {', '.join(ADMIN_MODES)}, not {settings.admin_mode!r}")
    if settings.log_format not in LOG_FORMATS:
        fail("log_format", f"must be one of {', '.join(LOG_FORMATS)}, not {settings.log_format!r}")
    if not _TIME.match(settings.digest_time):
        fail("digest_time", f"must be a time of day as HH:MM (e.g. 09:00), not {settings.digest_time!r}")
    if settings.digest_timezone is not None:
        try:
            zoneinfo.ZoneInfo(settings.digest_timezone)
        except (zoneinfo.ZoneInfoNotFoundError, ValueError):
            fail(
                "digest_timezone",
                f"is not an IANA time zone (e.g. Europe/Berlin): {settings.digest_timezone!r}",
            )
    for key in ("default_frameworks", "digest_frameworks"):
        unknown = [f for f in getattr(settings, key) if f not in ALL_FRAMEWORKS]
        if unknown:
            fail(key, f"names unknown frameworks {', '.join(unknown)}; known: {', '.join(ALL_FRAMEWORKS)}")
    bad = [t for t in settings.shortcut_techniques if not _TECHNIQUE.match(t)]
    if bad:
        fail("shortcut_techniques", f"takes T#### IDs only (no sub-techniques): {', '.join(bad)}")
    if len(settings.shortcut_techniques) > MAX_SHORTCUTS:
        fail(
            "shortcut_techniques",
            f"lists {len(settings.shortcut_techniques)} techniques; Slack allows 50 slash commands per app,"
            f" so at most {MAX_SHORTCUTS} besides {settings.command_name}",
        )
    if not re.match(r"^/[a-z0-9_-]{1,31}$", settings.command_name):
        fail("command_name", f"must be a slash command like /attack, not {settings.command_name!r}")
    for path in settings.alias_files:
        if not path.is_file():
            fail("alias_files", f"names a file that does not exist: {path}")
    if settings.sync_attack_version != "latest" and not re.match(
        r"^\d+(\.\d+)*$", settings.sync_attack_version
    ):
        fail(
            "sync_attack_version",
            f"must be latest or a version like 18.1, not {settings.sync_attack_version!r}",
        )


def load_settings(config_file: str | Path | None = None, env: Mapping[str, str] | None = None) -> Settings:
    """Defaults, then the YAML file (``--config`` or ``COUNTERMAP_CONFIG``), then the environment."""
    values, where = _gather(config_file, os.environ if env is None else env)
    settings = Settings(**values)
    _check(settings, where)
    return settings


def setting_sources(
    config_file: str | Path | None = None, env: Mapping[str, str] | None = None
) -> dict[str, str]:
    """Where each setting that is not at its default comes from: the file, or the variable."""
    return _gather(config_file, os.environ if env is None else env)[1]


def _gather(config_file: str | Path | None, env: Mapping[str, str]) -> tuple[dict[str, Any], dict[str, str]]:
    """The settings' values given by the file and the environment, and where each came from."""
    values: dict[str, Any] = {}
    where: dict[str, str] = {}
    path = config_file or env.get("COUNTERMAP_CONFIG")
    if path:
        import yaml  # noqa: PLC0415 - a cold `countermap ask` without a file never pays for it (~18 ms)

        p = Path(path).expanduser()
        try:
            raw = yaml.safe_load(p.read_text(encoding="utf-8-sig")) or {}
        except (OSError, yaml.YAMLError) as exc:
            raise ConfigError(f"{p}: cannot read configuration: {exc}") from exc
        if not isinstance(raw, dict):
            raise ConfigError(f"{p}: the configuration must be a mapping of settings")
        for key, value in raw.items():
            if key == "extensions":
                if not isinstance(value, dict):
                    raise ConfigError(f"{p}: extensions must be a mapping")
                values["extra"] = value
                where["extra"] = str(p)
                continue
            if not isinstance(key, str) or key not in _KINDS:
                raise ConfigError(f"{p}: unknown setting {key!r}{_suggest(str(key))}")
            values[key] = _coerce(key, value, f"{p}")
            where[key] = str(p)
            if key == "alias_files":  # relative to the config file
                values[key] = tuple(v if v.is_absolute() else p.parent / v for v in values[key])
    for var, name in _ENV.items():
        if env.get(var):
            values[name] = _coerce(name, env[var], var)
            where[name] = var
    for name in _KINDS:
        var = env_name(name)
        if var in env and var not in _ENV and env[var] != "":
            values[name] = _coerce(name, env[var], var)
            where[name] = var
    return values, where


def unknown_env(env: Mapping[str, str] | None = None) -> list[str]:
    """COUNTERMAP_* variables that name no setting, each with the nearest one."""
    env = os.environ if env is None else env
    known = {env_name(k) for k in _KINDS} | set(_ENV) | NON_SETTING_ENV
    out = []
    for var in sorted(env):
        if var.startswith("COUNTERMAP_") and var not in known:
            out.append(f"{var}: not a setting{_suggest(var.removeprefix('COUNTERMAP_').lower())}")
    return out


def masked(settings: Settings) -> dict[str, Any]:
    """Every setting as plain values, secrets and the database password masked."""
    out: dict[str, Any] = {}
    for f in fields(settings):
        value = getattr(settings, f.name)
        if f.name in SECRETS and value:
            value = value[:5] + "…" if value.startswith("xox") else "***"
        elif f.name == "database_url" and value:
            value = mask_url(value)
        elif isinstance(value, Path):
            value = str(value)
        elif isinstance(value, tuple):
            value = [str(v) for v in value]
        elif f.name == "extra":
            value = dict(value)
        out[f.name] = value
    return out


def mask_url(url: str) -> str:
    """A database URL with its password replaced by ***."""
    return re.sub(r"(://[^:/@]*:)[^@]*@", r"\1***@", url)
