"""``countermap`` console command.  Each subcommand lives in its own module and imports its
heavy dependencies only when run, so ``countermap ask`` starts fast."""

from __future__ import annotations

import argparse
import importlib
import importlib.metadata
import sys
from collections.abc import Sequence
from typing import Any

# module name in bot.cli → each registers one or more subcommands
_MODULES = (
    "store_cmds",
    "resolve_cmd",
    "ask_cmd",
    "serve_cmd",
    "digest_cmd",
    "inventory_cmd",
    "gaps_cmd",
    "config_cmd",
    "analytics_cmd",
)


def installed_version() -> str:
    """The installed distribution's version (what ``pip install`` recorded)."""
    try:
        return importlib.metadata.version("countermap")
    except importlib.metadata.PackageNotFoundError:
        return "unknown (not installed: run pip install .)"


class _VersionAction(argparse.Action):
    """``--version``, looked up only when asked: reading the metadata on every start costs time."""

    def __init__(self, option_strings: Sequence[str], dest: str, **kwargs: Any) -> None:
        super().__init__(option_strings, dest, nargs=0, default=argparse.SUPPRESS, help=kwargs.get("help"))

    def __call__(self, parser: argparse.ArgumentParser, *args: Any) -> None:
        sys.stdout.write(f"{parser.prog} {installed_version()}\n")
        parser.exit()


def build_parser() -> argparse.ArgumentParser:
    parser = argparse.ArgumentParser(
        prog="countermap",
        description="Which security controls protect against, detect or respond to MITRE ATT&CK techniques.",
    )
    parser.add_argument("--db", help="database URL (default: $DATABASE_URL, else the SQLite file)")
    parser.add_argument("--config", help="YAML configuration file (default: $COUNTERMAP_CONFIG)")
    parser.add_argument("--version", action=_VersionAction, help="print the installed version and exit")
    sub = parser.add_subparsers(dest="command", metavar="COMMAND", required=True)
    for name in _MODULES:
        try:
            module = importlib.import_module(f"bot.cli.{name}")
        except ModuleNotFoundError as exc:
            if exc.name != f"bot.cli.{name}":
                raise
            continue
        module.register(sub)
    return parser


def main(argv: Sequence[str] | None = None) -> int:
    parser = build_parser()
    args = parser.parse_args(argv)
    try:
        return int(args.func(args) or 0)
    except KeyboardInterrupt:
        print("interrupted", file=sys.stderr)
        return 130
    except BrokenPipeError:
        return 0


if __name__ == "__main__":
    sys.exit(main())
