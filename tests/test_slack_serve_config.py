"""The example configuration documents every setting, and loading it changes nothing."""

from __future__ import annotations

import dataclasses
import re
from pathlib import Path

import pytest

from bot.cli import main
from bot.config import Settings, load_settings


@pytest.fixture
def example(tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> Path:
    """The example as a deployer gets it from an installed package: ``countermap config example``."""
    assert main(["config", "example"]) == 0
    path = tmp_path / "countermap.yaml"
    path.write_text(capsys.readouterr().out, encoding="utf-8")
    return path


def test_every_setting_is_in_the_example_configuration(example: Path) -> None:
    text = example.read_text(encoding="utf-8")
    documented = set(re.findall(r"^#? ?([a-z_]+):", text, flags=re.MULTILINE))
    missing = {f.name for f in dataclasses.fields(Settings)} - {"extra"} - documented
    assert not missing, f"add {sorted(missing)} to data/config.example.yaml"


def test_the_example_configuration_loads_to_the_defaults(example: Path) -> None:
    loaded = load_settings(example, env={})
    assert loaded.extra == {}  # no unknown (misspelt) keys
    assert loaded == Settings()
