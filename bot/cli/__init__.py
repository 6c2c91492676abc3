"""``countermap`` console command.  Each subcommand lives in its own module and imports its
heavy dependencies only when run, so ``countermap ask`` starts fast."""

from __future__ import annotations

import argparse
import importlib
import sys
from collections.abc import Sequence

# module name in bot.cli → each registers one or more subcommands
_MODULES = ("store_cmds", "resolve_cmd", "ask_cmd", "serve_cmd", "digest_cmd", "inventory_cmd", "gaps_cmd")


def build_parser() -> argparse.ArgumentParser:
    parser = argparse.ArgumentParser(
        prog="countermap",
        description="Which security controls protect against, detect or respond to MITRE ATT&CK techniques.",
    )
    parser.add_argument("--db", help="database URL (default: $DATABASE_URL, else the SQLite file)")
    parser.add_argument("--config", help="YAML configuration file (default: $COUNTERMAP_CONFIG)")
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
