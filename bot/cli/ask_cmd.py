"""``countermap ask QUERY``: the Slack answer, in the terminal (or one answer per line of stdin).

Startup matters here (a cold ask should take well under a second), so everything heavy is
imported inside ``run`` and the schema is not migrated: asking never writes.
"""

from __future__ import annotations

import argparse
import gc
import sys
from collections.abc import Iterator
from typing import TYPE_CHECKING, Any

from bot.cli.common import EXIT_FAILED, EXIT_USAGE, add_output_options, clean_text, input_lines

if TYPE_CHECKING:
    from bot.answer import Answer, Reading


def register(subparsers: Any) -> None:
    p = subparsers.add_parser(
        "ask",
        help="answer a question as the bot would (technique, control, pair, CVE, ...)",
        description="Answer QUERY as the Slack bot would, as terminal text, JSON or Block Kit.",
    )
    p.add_argument(
        "query",
        nargs="*",
        help='e.g. T1048, "T1048 SC-07", CVE-2023-34362, "compare T1059"; omit to answer each line of'
        " stdin (with --json or --blocks: one JSON object per line)",
    )
    p.add_argument(
        "--framework",
        action="append",
        default=[],
        metavar="F",
        help="framework key (nist_800_53, m365, aws, ...); repeat for several",
    )
    p.add_argument(
        "--framework-version", metavar="V", help="release of the framework: rev5, 07/18/2025, v2.1"
    )
    p.add_argument("--attack-version", metavar="A", help="ATT&CK version of the release: 14.1, 16.1")
    p.add_argument("--domain", choices=("enterprise", "mobile", "ics"), help="ATT&CK domain")
    out = p.add_mutually_exclusive_group()
    out.add_argument("--json", action="store_true", help="print the view as JSON")
    out.add_argument("--blocks", action="store_true", help='print the Slack payload {"text", "blocks"}')
    p.add_argument("--page", type=int, default=1, help="with --blocks: the page to print")
    p.add_argument("--team", metavar="T…", help="mark the controls this team's inventory holds (✓ yours)")
    p.add_argument("--channel", metavar="C…", help="with --team: a channel's own inventory")
    p.add_argument(
        "--create",
        action="store_true",
        help="create the SQLite database if its file does not exist (default: refuse, exit 3,"
        " so a mistyped --db is not silently an empty database)",
    )
    add_output_options(p, json=False)
    p.set_defaults(func=run)


def _json_default(obj: Any) -> Any:
    # Sets sorted: their iteration order changes with PYTHONHASHSEED, and the same question must
    # print the same JSON in every process.
    if isinstance(obj, set | frozenset):
        return sorted(obj)
    if isinstance(obj, tuple):
        return list(obj)
    raise TypeError


def answer_json(result: Answer | Reading, *, indent: bool = True) -> bytes:
    """What ``ask --json`` prints for an answer (the golden-answer test hashes exactly this);
    without ``indent``, one line (an answer per line of stdin)."""
    import orjson

    from bot.render.yours import yours_json

    body: dict[str, Any] = {
        "kind": getattr(result.view, "kind", None),
        "ok": result.ok,
        "notes": list(result.notes),
        "view": result.view,
    }
    if result.yours is not None:
        body["yours"] = yours_json(result.yours)
    return (
        orjson.dumps(
            body,
            default=_json_default,
            option=(orjson.OPT_INDENT_2 if indent else 0) | orjson.OPT_NON_STR_KEYS,
        )
        + b"\n"
    )


def _queries(args: argparse.Namespace) -> Iterator[str] | None:
    """The question from argv, else each line of stdin; None when there is neither (a terminal)."""
    if args.query:
        return iter((clean_text(" ".join(args.query)).strip(),))
    if sys.stdin is None or sys.stdin.isatty():
        return None
    return (line.strip() for line in input_lines(sys.stdin))


def run(args: argparse.Namespace) -> int:
    # One question per process: the cyclic GC would only rescan, again and again, the hundreds of
    # thousands of long-lived objects that the imports below create (about 5% of a cold ask).
    gc.disable()
    import orjson

    from bot.answer import Answerer
    from bot.cli.common import engine_from, schema_behind_message, settings_from
    from store.db import MissingData, unavailable_reason
    from store.views import Filters

    queries = _queries(args)
    if queries is None:
        print("countermap ask: name a question, or give one per line on stdin", file=sys.stderr)
        return EXIT_USAGE
    many = not args.query  # one JSON object per line, a blank line between terminal answers
    settings = settings_from(args)
    engine = engine_from(args, upgrade=args.create, must_exist=not args.create)
    answerer = Answerer(engine, settings, index_cache=True)
    filters = Filters(
        framework_version=args.framework_version,
        attack_version=args.attack_version,
        domain=args.domain,
    )
    frameworks = tuple(args.framework)
    all_ok = True
    try:
        inventory = None
        if args.team:
            from store.state.inventory import effective_inventory

            inventory = effective_inventory(engine, args.team, args.channel)
        for n, query in enumerate(queries):
            if args.blocks:
                answer = answerer.answer(
                    query, frameworks=frameworks, filters=filters, page=args.page, inventory=inventory
                )
                option = 0 if many else orjson.OPT_INDENT_2
                sys.stdout.buffer.write(orjson.dumps(answer.payload.to_dict(), option=option) + b"\n")
                all_ok &= answer.ok
                continue
            result = answerer.read(query, frameworks=frameworks, filters=filters, inventory=inventory)
            all_ok &= result.ok
            if args.json:
                sys.stdout.buffer.write(answer_json(result, indent=not many))
            elif not args.quiet:
                _print_reading(result, first=n == 0)
            sys.stdout.flush()
    except MissingData as exc:
        if unavailable_reason(exc) is not None or schema_behind_message(exc) is not None:
            raise  # the database is down or older than this countermap: main prints one line
        print(
            f"countermap: the database holds no countermap data ({exc.orig}); run `countermap ingest` first",
            file=sys.stderr,
        )
        return EXIT_FAILED
    return 0 if all_ok else 1


def _print_reading(result: Reading, *, first: bool) -> None:
    from bot.render.terminal import print_view

    if not first:
        print()
    print_view(result.view, notes=result.notes)
    if result.yours is not None:
        from bot.render.yours import yours_text

        print("\n" + yours_text(result.yours))
