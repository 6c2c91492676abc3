"""Settings are checked at start: every mistake names its key and where it came from."""

from __future__ import annotations

from pathlib import Path

import pytest

from bot.config import SECRETS, ConfigError, Settings, load_settings, mask_url, masked, unknown_env


def write(tmp_path: Path, text: str) -> Path:
    cfg = tmp_path / "c.yaml"
    cfg.write_text(text)
    return cfg


def test_an_unknown_key_names_the_file_and_the_nearest_key(tmp_path: Path) -> None:
    cfg = write(tmp_path, "digest_timezon: Europe/Berlin\n")
    with pytest.raises(
        ConfigError, match=r"c\.yaml: unknown setting 'digest_timezon' \(did you mean digest_timezone\?\)"
    ):
        load_settings(cfg, env={})


def test_a_bad_time_zone_is_an_error_naming_the_key(tmp_path: Path) -> None:
    with pytest.raises(ConfigError, match="digest_timezone is not an IANA time zone"):
        load_settings(write(tmp_path, "digest_timezone: Mars/Olympus\n"), env={})


def test_a_bad_digest_time_and_admin_mode_are_errors_at_start(tmp_path: Path) -> None:
    with pytest.raises(ConfigError, match="digest_time must be a time of day"):
        load_settings(env={"COUNTERMAP_DIGEST_TIME": "25:00"})
    with pytest.raises(ConfigError, match="COUNTERMAP_ADMIN_MODE: admin_mode must be one of"):
        load_settings(env={"COUNTERMAP_ADMIN_MODE": "everyone"})


def test_a_wrong_type_names_the_key(tmp_path: Path) -> None:
    with pytest.raises(ConfigError, match="card_rate_limit_per_minute must be a whole number"):
        load_settings(write(tmp_path, "card_rate_limit_per_minute: lots\n"), env={})


def test_a_missing_alias_file_is_a_clear_error(tmp_path: Path) -> None:
    with pytest.raises(ConfigError, match="alias_files names a file that does not exist"):
        load_settings(write(tmp_path, "alias_files: [nope.yaml]\n"), env={})


def test_every_setting_comes_from_the_environment_with_lists_comma_separated() -> None:
    s = load_settings(env={"COUNTERMAP_SYNC_FRAMEWORKS": "aws, csa_ccm", "COUNTERMAP_SYNC_DISCOVER": "no"})
    assert s.sync_frameworks == ("aws", "csa_ccm")
    assert s.sync_discover is False


def test_more_shortcuts_than_slack_allows_is_an_error() -> None:
    many = ",".join(f"T{1000 + i}" for i in range(50))
    with pytest.raises(ConfigError, match="Slack allows 50 slash commands"):
        load_settings(env={"COUNTERMAP_SHORTCUT_TECHNIQUES": many})


def test_a_mistyped_countermap_variable_is_reported_with_the_nearest_setting() -> None:
    assert unknown_env({"COUNTERMAP_LOG_FORMATT": "json"}) == [
        "COUNTERMAP_LOG_FORMATT: not a setting (did you mean log_format?)"
    ]


def test_secrets_and_the_database_password_are_masked() -> None:
    s = load_settings(env={"SLACK_BOT_TOKEN": "xoxb-123-secret", "DATABASE_URL": "postgresql://u:pw@h/db"})
    shown = masked(s)
    assert "xoxb-123-secret" not in str(shown.values()) and "pw@" not in str(shown.values())
    assert mask_url("postgresql://u:pw@h/db") == "postgresql://u:***@h/db"
    assert "xoxb-123" not in repr(s)


def test_repr_of_the_settings_shows_no_secret() -> None:
    secrets = {name: f"secret-{name}-value" for name in SECRETS}
    s = Settings(database_url="postgresql://u:dbpass@h/db", **secrets)
    shown = repr(s)
    assert "slack_bot_token" not in shown and "dbpass" not in shown
    assert [name for name, value in secrets.items() if value in shown] == []
    assert "command_name='/attack'" in shown  # the rest is still shown
