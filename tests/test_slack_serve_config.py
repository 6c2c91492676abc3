"""The example configuration documents every setting, and loading it changes nothing."""

from __future__ import annotations

import dataclasses
import re

from bot.config import DATA_DIR, Settings, load_settings

EXAMPLE = DATA_DIR / "config.example.yaml"


def test_every_setting_is_in_the_example_configuration() -> None:
    text = EXAMPLE.read_text(encoding="utf-8")
    documented = set(re.findall(r"^#? ?([a-z_]+):", text, flags=re.MULTILINE))
    missing = {f.name for f in dataclasses.fields(Settings)} - {"extra"} - documented
    assert not missing, f"add {sorted(missing)} to data/config.example.yaml"


def test_the_example_configuration_loads_to_the_defaults() -> None:
    loaded = load_settings(EXAMPLE, env={})
    assert loaded.extra == {}  # no unknown (misspelt) keys
    assert loaded == Settings()
