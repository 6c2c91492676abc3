"""The README lists every environment variable the program reads: each ``COUNTERMAP_*``,
``DATABASE_URL`` and ``SLACK_*`` name written in the code under ``bot/`` and ``store/``, every
setting's ``COUNTERMAP_<KEY>`` and every conventional alias a setting answers to."""

from __future__ import annotations

import ast
import re
from dataclasses import fields
from pathlib import Path

from bot.config import _ENV, Settings, env_name

ROOT = Path(__file__).resolve().parent.parent
VARIABLE = re.compile(r"^(COUNTERMAP_[A-Z0-9_]+|DATABASE_URL|SLACK_[A-Z0-9_]+)$")


def names_in_code() -> dict[str, str]:
    """Every string constant in the code shaped like one of the variables, with a file it is in."""
    found: dict[str, str] = {}
    for folder in ("bot", "store"):
        for path in sorted((ROOT / folder).rglob("*.py")):
            for node in ast.walk(ast.parse(path.read_text(encoding="utf-8"))):
                if (
                    isinstance(node, ast.Constant)
                    and isinstance(node.value, str)
                    and VARIABLE.match(node.value)
                ):
                    found.setdefault(node.value, str(path.relative_to(ROOT)))
    for f in fields(Settings):
        if f.name != "extra":
            found.setdefault(env_name(f.name), f"the setting {f.name}")
    for alias in _ENV:
        found.setdefault(alias, "bot/config.py (an alias)")
    return found


def readme_section() -> str:
    text = (ROOT / "README.md").read_text(encoding="utf-8")
    start = text.index("### Environment variables")
    end = text.find("\n## ", start)
    return text[start : end if end != -1 else None]


def test_every_variable_the_code_reads_is_listed_in_the_readme() -> None:
    section = readme_section()
    missing = {name: where for name, where in names_in_code().items() if f"`{name}`" not in section}
    assert not missing, f"add to the README's environment variables: {missing}"


def test_the_scan_finds_what_the_code_reads() -> None:
    """The scan itself sees the variables read by name and those built from a setting's key."""
    found = names_in_code()
    assert {"DATABASE_URL", "SLACK_BOT_TOKEN", "COUNTERMAP_LOG_FORMAT", "COUNTERMAP_CONFIG"} <= set(found)
    assert "COUNTERMAP_SYNC_FRAMEWORKS" in found and "COUNTERMAP_METRICS_PORT" in found
