"""The foundation every layer stands on: settings precedence and a migrated schema."""

from __future__ import annotations

from pathlib import Path

import pytest
from sqlalchemy import Engine, inspect

from bot.config import ConfigError, load_settings


def test_environment_overrides_config_file(tmp_path: Path) -> None:
    cfg = tmp_path / "c.yaml"
    cfg.write_text("command_name: /mitre\ndefault_frameworks: [aws, azure]\n")
    settings = load_settings(cfg, env={"COUNTERMAP_COMMAND": "/ttp"})
    assert settings.command_name == "/ttp"
    assert settings.default_frameworks == ("aws", "azure")


def test_extension_settings_live_under_extensions(tmp_path: Path) -> None:
    cfg = tmp_path / "c.yaml"
    cfg.write_text("extensions: {my_plugin: {a: 1}}\n")
    assert load_settings(cfg, env={}).extra == {"my_plugin": {"a": 1}}


def test_config_that_is_not_a_mapping_is_a_clear_error(tmp_path: Path) -> None:
    cfg = tmp_path / "c.yaml"
    cfg.write_text("- just\n- a list\n")
    with pytest.raises(ConfigError, match="mapping"):
        load_settings(cfg, env={})


def test_fresh_database_gets_every_table(engine: Engine) -> None:
    tables = set(inspect(engine).get_table_names())
    assert {"releases", "mappings", "capabilities", "techniques", "digest_runs"} <= tables
