"""``countermap config``: check a configuration, show the settings in force, print the example.

``check`` loads the file and the environment exactly as every process does at start (unknown
keys, wrong types, time zones, times, modes and alias files are errors naming the key and where
it came from) and exits 2 on the first error; ``show`` prints every setting with its source,
secrets and the database password masked.  An installed wheel has no checkout to copy
``data/config.example.yaml`` from; ``example`` prints it::

    countermap config example > /etc/countermap/countermap.yaml
    countermap config check /etc/countermap/countermap.yaml
"""

from __future__ import annotations

import argparse
import os
import sys
from typing import Any

from countermap_data import shipped

from bot.cli.common import EXIT_USAGE, add_output_options, write_json


def register(sub: argparse._SubParsersAction) -> None:
    p = sub.add_parser(
        "config", help="configuration: check it, show the settings in force, print the example"
    )
    what = p.add_subparsers(dest="config_action", metavar="ACTION", required=True)
    example = what.add_parser("example", help="print the example configuration (YAML) to edit")
    example.set_defaults(func=run_example)
    check = what.add_parser(
        "check",
        help="validate a configuration file and the COUNTERMAP_* environment (exit 2 on an error)",
    )
    check.add_argument(
        "file", nargs="?", metavar="FILE", help="YAML file (default: --config / $COUNTERMAP_CONFIG)"
    )
    add_output_options(check, json_help='{"ok", "file", "error", "warnings"} as JSON')
    check.set_defaults(func=run_check)
    show = what.add_parser("show", help="every setting in force and where it came from (secrets masked)")
    show.add_argument(
        "file", nargs="?", metavar="FILE", help="YAML file (default: --config / $COUNTERMAP_CONFIG)"
    )
    add_output_options(show, json_help="the settings as one JSON object (values only)")
    show.set_defaults(func=run_show)


def run_example(args: argparse.Namespace) -> int:
    sys.stdout.write(shipped("config.example.yaml").read_text(encoding="utf-8"))
    return 0


def _file(args: argparse.Namespace) -> str | None:
    return args.file or getattr(args, "config", None) or os.environ.get("COUNTERMAP_CONFIG") or None


def _load(args: argparse.Namespace) -> Any:
    """The settings as a process would build them, alias files read too (a bad one would only
    show when the resolver starts)."""
    from bot.config import load_settings
    from bot.resolve.aliases import load_aliases

    settings = load_settings(_file(args))
    if getattr(args, "db", None):
        settings = settings.with_(database_url=args.db)
    load_aliases(settings)
    return settings


def run_check(args: argparse.Namespace) -> int:
    from bot.config import ConfigError, unknown_env

    path = _file(args)
    warnings = unknown_env()
    try:
        _load(args)
    except ConfigError as exc:
        if args.json:
            write_json({"ok": False, "file": path, "error": str(exc), "warnings": warnings})
        print(f"countermap config: {exc}", file=sys.stderr)
        return EXIT_USAGE
    if args.json:
        write_json({"ok": True, "file": path, "error": None, "warnings": warnings})
        return 0
    for warning in warnings:
        print(f"countermap config: warning: {warning}", file=sys.stderr)
    if not args.quiet:
        print(f"ok: {path or 'no file'} and the environment give a valid configuration")
    return 0


def run_show(args: argparse.Namespace) -> int:
    from bot.config import ConfigError, masked, setting_sources

    path = _file(args)
    try:
        settings = _load(args)
    except ConfigError as exc:
        print(f"countermap config: {exc}", file=sys.stderr)
        return EXIT_USAGE
    values = masked(settings)
    if args.json:
        write_json(values)
        return 0
    if args.quiet:
        return 0
    sources = setting_sources(path)
    if args.db:
        sources["database_url"] = "--db"
    width = max(map(len, values))
    for key, value in values.items():
        shown = "" if value is None else ", ".join(value) if isinstance(value, list) else str(value)
        print(f"{key:<{width}}  {shown:<40}  ({sources.get(key, 'default')})")
    return 0
