"""``countermap export QUERY --csv|--navigator [-o FILE]``: an answer's mappings as CSV, or as an
ATT&CK Navigator layer, the same files the Slack answer's Export buttons give.

Technique, control, pair, CVE and compare answers export their mappings (bot/render/export.py);
an answer that is a gap report (``--team`` for the team's inventory) exports it as ``countermap
gaps`` does (bot/render/gap_export.py).  Anything else (help, no match) has nothing to export:
exit 1.
"""

from __future__ import annotations

import argparse
import sys
from pathlib import Path
from typing import Any

from bot.cli.common import EXIT_FAILED, add_output_options, clean_text, engine_from, settings_from


def register(sub: Any) -> None:
    p = sub.add_parser(
        "export",
        help="an answer's mappings as CSV or an ATT&CK Navigator layer (as Slack's Export buttons)",
        description="Export the answer to QUERY: its mappings as CSV (one row per mapping) or as an "
        "ATT&CK Navigator layer (JSON); a gap question exports its gap report.",
    )
    p.add_argument("query", nargs="+", help='e.g. T1048, "T1048 SC-07", CVE-2023-34362, "compare T1059"')
    form = p.add_mutually_exclusive_group(required=True)
    form.add_argument("--csv", action="store_true", help="CSV, one row per mapping")
    form.add_argument("--navigator", action="store_true", help="an ATT&CK Navigator layer (JSON)")
    p.add_argument("-o", "--output", metavar="FILE", help="write to FILE (default: stdout)")
    p.add_argument(
        "--framework", action="append", default=[], metavar="F", help="framework key; repeat for several"
    )
    p.add_argument("--team", metavar="T…", help="whose inventory a coverage or gap question uses")
    p.add_argument("--channel", metavar="C…", help="with --team: a channel's own inventory")
    add_output_options(p, json=False)
    p.set_defaults(func=run_export)


def exportable(view: Any, fmt: str) -> tuple[str, bytes] | None:
    """(file name, content) of ``view`` in ``fmt`` ("csv" | "navigator"), or None when the
    view is not one that has an export."""
    from bot.coverage.views import GapReport
    from bot.render.export import to_csv, to_navigator
    from bot.render.gap_export import gap_csv, gap_layer
    from bot.render.threat_export import threat_csv, threat_layer
    from store.threat_views import ThreatView
    from store.views import CapabilityView, CompareView, CveView, PairView, TechniqueView

    if isinstance(view, ThreatView):
        return threat_csv(view) if fmt == "csv" else threat_layer(view)
    if isinstance(view, GapReport):
        return gap_csv(view) if fmt == "csv" else gap_layer(view)
    if isinstance(view, TechniqueView | CapabilityView | PairView | CveView | CompareView):
        return to_csv(view) if fmt == "csv" else to_navigator(view)
    return None


def run_export(args: argparse.Namespace) -> int:
    from bot.answer import Answerer

    query = clean_text(" ".join(args.query)).strip()
    settings = settings_from(args)
    engine = engine_from(args, upgrade=False)
    inventory = None
    if args.team:
        from store.state.inventory import effective_inventory

        inventory = effective_inventory(engine, args.team, args.channel)
    reading = Answerer(engine, settings, index_cache=True).read(
        query, frameworks=tuple(args.framework), inventory=inventory
    )
    fmt = "csv" if args.csv else "navigator"
    found = exportable(reading.view, fmt) if reading.ok else None
    if found is None:
        kind = getattr(reading.view, "kind", type(reading.view).__name__)
        print(f"countermap export: nothing to export for {query!r} (a {kind} answer)", file=sys.stderr)
        return EXIT_FAILED
    name, content = found
    if args.output:
        Path(args.output).write_bytes(content)
        if args.verbose:
            print(f"wrote {len(content):,} bytes to {args.output} ({name})", file=sys.stderr)
    else:
        sys.stdout.buffer.write(content)
    return 0
