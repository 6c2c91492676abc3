"""``countermap resolve``: show how the bot reads a question (or many, from stdin).

With ``--json`` the output is the stable machine contract: one JSON object per query, one per
line, in input order (``Resolution.to_json()``), so other tools can pipe questions through.
"""

from __future__ import annotations

import argparse
import sys
from collections.abc import Iterator
from typing import Any, BinaryIO

from bot.cli.common import EXIT_USAGE, add_output_options, clean_text, input_lines


def register(subparsers: Any) -> None:
    p = subparsers.add_parser(
        "resolve",
        help="show how a question is understood (techniques, controls, frameworks, filters, intent)",
        description="Resolve QUERY, or every line of stdin when QUERY is omitted.",
    )
    p.add_argument(
        "query", nargs="*", metavar="QUERY", help="the question; omit to read one per line from stdin"
    )
    add_output_options(p, json_help="one JSON object per query, one per line (the stable contract)")
    p.set_defaults(func=run)


def human_line(res: Any) -> str:
    """One short line: intent, then each entity with its score."""
    parts = [f"{t.id} {t.name} ({t.score:.0f})".strip() for t in res.techniques]
    parts += [f"{c.framework} {c.id} {c.name} ({c.score:.0f})".replace("  ", " ") for c in res.capabilities]
    parts += [f"{g.framework} family {g.id} {g.name} ({g.score:.0f})" for g in res.groups]
    parts += [
        f"{t.kind} {t.id} {t.name} ({t.score:.0f})" + (f" [technique {t.technique}]" if t.technique else "")
        for t in res.threats
    ]
    extra = []
    if res.frameworks:
        extra.append("frameworks=" + ",".join(res.frameworks))
    for key, value in (
        ("attack", res.filters.attack_version),
        ("version", res.filters.framework_version),
        ("domain", res.filters.domain),
        ("min", res.filters.min_score),
    ):
        if value:
            extra.append(f"{key}={value}")
    if res.filters.categories:
        extra.append("categories=" + ",".join(res.filters.categories))
    line = f"{res.intent}: " + ("; ".join(parts) if parts else "-")
    if extra:
        line += "  [" + " ".join(extra) + "]"
    if res.alternatives:
        line += "  did you mean: " + ", ".join(a.label for a in res.alternatives)
    for note in res.notes:
        line += f"  ({note})"
    return line


def _emit(out: BinaryIO, res: Any, as_json: bool) -> None:
    """One line of UTF-8, whatever the locale: the query was decoded with replacement, so the
    output is always valid UTF-8 (and valid JSON with ``--json``)."""
    if as_json:
        import json

        line = json.dumps(res.to_json(), ensure_ascii=False, separators=(",", ":"))
    else:
        line = f"{res.query!r} → {human_line(res)}"
    out.write(line.encode("utf-8", "replace") + b"\n")
    out.flush()


def _queries(args: argparse.Namespace) -> Iterator[str]:
    if args.query:
        yield clean_text(" ".join(args.query))
        return
    yield from input_lines(sys.stdin)


def run(args: argparse.Namespace) -> int:
    from bot.cli.common import engine_from, settings_from
    from bot.resolve import AliasError, ResolverIndex, load_aliases, resolve
    from store.reads.scope import reads

    settings = settings_from(args)
    try:
        aliases = load_aliases(settings)
    except AliasError as exc:
        print(f"countermap: {exc}", file=sys.stderr)
        return EXIT_USAGE
    engine = engine_from(args)
    try:
        with reads(engine) as data:
            index = ResolverIndex.build(data, aliases=aliases)
    finally:
        engine.dispose()
    if not index.entries and not args.quiet:
        print("countermap: no data loaded yet; run `countermap ingest` first", file=sys.stderr)
    for query in _queries(args):
        _emit(sys.stdout.buffer, resolve(index, query), args.json)
    return 0
