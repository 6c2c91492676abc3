"""``countermap`` console command.  Each subcommand lives in its own module and imports its
heavy dependencies only when run, so ``countermap ask`` starts fast."""

from __future__ import annotations

import argparse
import importlib
import importlib.metadata
import sys
from collections.abc import Sequence
from typing import Any

from bot.cli.common import clean_text

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
    "export_cmd",
    "health_cmd",
    "mirror_cmd",
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
    from bot.cli.common import EXIT_CODES_EPILOG, HelpFormatter

    parser = argparse.ArgumentParser(
        prog="countermap",
        description="Which security controls protect against, detect or respond to MITRE ATT&CK techniques.",
        epilog=EXIT_CODES_EPILOG,
        formatter_class=HelpFormatter,
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
    _finish_help(parser, EXIT_CODES_EPILOG, HelpFormatter)
    return parser


def _finish_help(
    parser: argparse.ArgumentParser, epilog: str, formatter: type[argparse.HelpFormatter]
) -> None:
    """Every subcommand, at every depth, gets a description (its help line when it has none), the
    exit codes in its ``--help``, and ``-q``/``-v`` when it did not add them itself."""
    from bot.cli.common import add_output_options

    for action in parser._actions:
        if not isinstance(action, argparse._SubParsersAction):
            continue
        helps = {a.dest: a.help for a in action._choices_actions}
        for name, child in action.choices.items():
            is_leaf = not any(isinstance(a, argparse._SubParsersAction) for a in child._actions)
            if is_leaf and "--quiet" not in child._option_string_actions:
                add_output_options(child, json=False)  # -q/-v on every command, the same
            if child.description is None and helps.get(name):
                child.description = str(helps[name])
            if child.epilog is None:
                child.epilog = epilog
                child.formatter_class = formatter
            _finish_help(child, epilog, formatter)


# Arguments that name files and folders keep their bytes (surrogate escapes open the same file);
# every other text argument is a question, an ID or a name, and is made valid Unicode.
_PATH_ARGUMENTS = frozenset({"config", "db", "dir", "file", "mirror", "output", "paths", "sources"})


def _clean_args(args: argparse.Namespace) -> argparse.Namespace:
    """Bytes in argv that are not UTF-8 (which Python decodes to lone surrogates) become U+FFFD,
    as on stdin: a surrogate reaching the database driver or stdout would raise."""
    for name, value in vars(args).items():
        if name in _PATH_ARGUMENTS:
            continue
        if isinstance(value, str):
            setattr(args, name, clean_text(value))
        elif isinstance(value, list) and all(isinstance(v, str) for v in value):
            setattr(args, name, [clean_text(v) for v in value])
    return args


def main(argv: Sequence[str] | None = None) -> int:
    for stream in (sys.stdout, sys.stderr):
        # Text that came in as bad bytes must never crash the output, whatever the locale.
        reconfigure = getattr(stream, "reconfigure", None)
        if reconfigure is not None:
            reconfigure(errors="replace")
    parser = build_parser()
    args = _clean_args(parser.parse_args(argv))
    try:
        return int(args.func(args) or 0)
    except KeyboardInterrupt:
        print("interrupted", file=sys.stderr)
        return 130
    except BrokenPipeError:
        return 0
    except Exception as exc:
        from bot.cli.common import EXIT_DB_DOWN, EXIT_FAILED, database_down_message, schema_behind_message

        message = database_down_message(exc)
        if message is not None:
            print(message, file=sys.stderr)
            return EXIT_DB_DOWN
        message = schema_behind_message(exc)
        if message is None:
            raise
        print(message, file=sys.stderr)
        return EXIT_FAILED


if __name__ == "__main__":
    sys.exit(main())
