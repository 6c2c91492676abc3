"""What every subcommand shares: the output options, the exit codes, settings and the engine,
and the one-line report of a database that is down.

A subcommand adds its options with ``add_output_options(parser)`` (``-q``, ``-v``, ``--json``:
the same spelling and meaning everywhere), opens the database with ``engine_from(args)``, and
lets a database outage propagate: ``countermap``'s ``main`` turns it into one line naming the
database (password masked) and the reason, and exit status ``EXIT_DB_DOWN``.
"""

from __future__ import annotations

import argparse
import sys
from collections.abc import Iterator
from typing import TYPE_CHECKING, Any, BinaryIO, TextIO

from bot.config import ConfigError, Settings, load_settings

if TYPE_CHECKING:
    from store.db import Engine

EXIT_OK = 0
EXIT_FAILED = 1  # the command ran and says what failed: no answer, a bad file, a post that failed
EXIT_USAGE = 2  # bad arguments or configuration
EXIT_DB_DOWN = 3  # the database cannot be reached, opened or found
EXIT_INTERRUPTED = 130

EXIT_CODES_EPILOG = """exit status:
  0    success
  1    the command ran and failed: no answer, bad input (nothing loaded), a post failed
  2    bad arguments or configuration
  3    the database is unreachable, cannot be opened, or (for read-only commands) does not exist
  130  interrupted"""


class HelpFormatter(argparse.HelpFormatter):
    """Wraps one-paragraph descriptions as usual, but keeps text with line breaks (the exit codes
    table, examples) as written."""

    def _fill_text(self, text: str, width: int, indent: str) -> str:
        if "\n" in text:
            return "".join(indent + line for line in text.splitlines(keepends=True))
        return super()._fill_text(text, width, indent)


# The URL of the database the command opened last, for the outage message (the driver's
# exception does not carry it).
_opened_url: str | None = None


def add_output_options(
    parser: argparse.ArgumentParser, *, json: bool = True, json_help: str | None = None
) -> None:
    """``-q/--quiet``, ``-v/--verbose`` and (unless ``json=False``) ``--json``."""
    group = parser.add_mutually_exclusive_group()
    group.add_argument(
        "-q", "--quiet", action="store_true", help="print nothing on success (errors still go to stderr)"
    )
    group.add_argument(
        "-v", "--verbose", action="count", default=0, help="say more (what was done, what was skipped)"
    )
    if json:
        parser.add_argument(
            "--json", action="store_true", help=json_help or "print the result as JSON on stdout"
        )


def verbosity(args: argparse.Namespace) -> int:
    """-1 quiet, 0 normal, 1+ verbose."""
    return -1 if getattr(args, "quiet", False) else int(getattr(args, "verbose", 0) or 0)


def write_json(data: Any, *, indent: bool = True) -> None:
    """``data`` as UTF-8 JSON on stdout (non-ASCII kept, never raw bytes that are not UTF-8)."""
    import json

    text = json.dumps(data, indent=2 if indent else None, ensure_ascii=False, default=_plain)
    sys.stdout.buffer.write(text.encode("utf-8", "replace") + b"\n")
    sys.stdout.flush()


def clean_text(text: str) -> str:
    """Text from argv (which Python decodes with surrogate escapes) as valid Unicode: bytes that
    were not UTF-8 become U+FFFD, as they do on stdin."""
    return text.encode("utf-8", "surrogateescape").decode("utf-8", "replace")


def input_lines(stream: BinaryIO | TextIO) -> Iterator[str]:
    """Each line of a stream, decoded as UTF-8 with replacement (never an error, whatever the
    bytes or the locale), without its line ending; a leading byte-order mark is dropped.  Pass
    ``sys.stdin``: its bytes are read, not its locale-decoded text."""
    source: Any = getattr(stream, "buffer", stream)
    first = True
    for raw in source:
        line = raw if isinstance(raw, str) else raw.decode("utf-8", "replace")
        if first:
            line = line.removeprefix("\ufeff")
            first = False
        yield clean_text(line.rstrip("\r\n"))


def _plain(obj: Any) -> Any:
    if isinstance(obj, set | frozenset):
        return sorted(obj)
    if isinstance(obj, tuple):
        return list(obj)
    if hasattr(obj, "isoformat"):
        return obj.isoformat()
    return str(obj)


def settings_from(args: argparse.Namespace) -> Settings:
    try:
        settings = load_settings(getattr(args, "config", None))
    except ConfigError as exc:
        print(f"countermap: {exc}", file=sys.stderr)
        raise SystemExit(EXIT_USAGE) from exc
    if getattr(args, "db", None):
        settings = settings.with_(database_url=args.db)
    from bot.ops.logs import configure_logging

    configure_logging(None, settings.log_format)  # the level each command chose, masked, as configured
    return settings


def engine_from(args: argparse.Namespace, *, upgrade: bool = True, must_exist: bool | None = None) -> Engine:
    """The engine for ``--db`` / ``DATABASE_URL`` / the default file, reachable (else
    ``DatabaseUnavailable``) and with the schema brought up to date unless ``upgrade=False``.

    A read-only command (``upgrade=False``) refuses a SQLite file that does not exist rather than
    creating an empty one, unless ``must_exist=False`` (``ask --create``)."""
    from store.db import DatabaseUnavailable, database_url, ensure_reachable, make_engine, sqlite_file
    from store.migrate import upgrade as upgrade_schema

    global _opened_url
    url = database_url(settings_from(args).database_url)
    _opened_url = url
    path = sqlite_file(url)
    if (not upgrade if must_exist is None else must_exist) and path is not None and not path.exists():
        raise DatabaseUnavailable(
            url, "no such file (run `countermap ingest` or `countermap sync` to create it)"
        )
    engine = make_engine(url)
    ensure_reachable(engine)
    if upgrade:
        upgrade_schema(engine)
    return engine


def schema_behind_message(exc: BaseException) -> str | None:
    """The one line for a failed read on a database whose schema is older than this countermap
    (read-only commands do not upgrade it: ``ask`` must stay fast), else None."""
    from store.db import MissingData, make_engine
    from store.migrate import current_revision, head_revision

    if not isinstance(exc, MissingData) or not _opened_url:
        return None
    engine = make_engine(_opened_url)
    try:
        current, head = current_revision(engine), head_revision()
    except Exception:  # the database cannot say: the caller's own message stands
        return None
    finally:
        engine.dispose()
    if current is None or current == head:
        return None
    return (
        f"countermap: the database schema is at revision {current} and this countermap needs {head}:"
        " run `countermap db upgrade` (ingest and serve upgrade it too)"
    )


def database_down_message(exc: BaseException) -> str | None:
    """The one line for an exception that means the database is down, else None."""
    from store.db import DatabaseUnavailable, display_url, unavailable_reason

    if isinstance(exc, DatabaseUnavailable):
        return f"countermap: {exc}"
    reason = unavailable_reason(exc)
    if reason is None:
        return None
    where = f"database {display_url(_opened_url)}" if _opened_url else "the database"
    return f"countermap: {where} is unavailable: {reason}"
