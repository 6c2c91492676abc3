"""``countermap gaps QUERY``: your inventory against an actor's, a CVE's, a tactic's or some
techniques' set, with the gaps and the fewest controls that close them; CSV or Navigator export."""

from __future__ import annotations

import argparse
import json
import sys
from pathlib import Path
from typing import Any

from bot.cli.common import add_output_options, engine_from, settings_from
from bot.coverage.answers import Refusal, gap_report_for
from bot.coverage.views import GapReport
from bot.index_cache import build_index
from bot.render.coverage import PLAIN, as_text, gap_report_lines
from bot.render.gap_export import gap_csv, gap_layer
from bot.resolve import resolve
from store.reads.scope import reads
from store.state.inventory import effective_inventory


def register(sub: Any) -> None:
    p = sub.add_parser(
        "gaps",
        help="your controls against an actor, software, campaign, CVE, tactic or techniques: "
        "coverage, gaps, what to add",
        description="Coverage of QUERY's techniques by the team's inventory (countermap inventory), the "
        "gaps, and per framework the fewest controls that close the most gaps.",
    )
    p.add_argument(
        "query", nargs="+", help='e.g. APT29, LockBit, C0024, CVE-2023-34362, exfiltration, "T1048 T1566"'
    )
    p.add_argument(
        "--team", metavar="T…", help="whose inventory (default: none, so every technique is a gap)"
    )
    p.add_argument("--channel", metavar="C…", help="a channel's own inventory, else the workspace's")
    p.add_argument(
        "--framework",
        action="append",
        default=[],
        metavar="F",
        help="without an inventory: the frameworks to suggest controls from",
    )
    out = p.add_mutually_exclusive_group()
    out.add_argument("--json", action="store_true", help="the report as JSON")
    out.add_argument("--csv", action="store_true", help="one CSV row per technique")
    out.add_argument("--navigator", action="store_true", help="an ATT&CK Navigator layer")
    p.add_argument("-o", "--output", metavar="FILE", help="write the export to FILE instead of stdout")
    add_output_options(p, json=False)
    p.set_defaults(func=run_gaps)


def report_json(r: GapReport) -> dict[str, Any]:
    cov = r.coverage
    return {
        "subject": {"kind": r.subject.kind, "id": r.subject.id, "name": r.subject.name},
        "domain": r.domain,
        "inventory": r.inventory_scope,
        "releases": [
            {
                "framework": x.framework,
                "framework_version": x.framework_version,
                "attack_version": x.attack_version,
            }
            for x in r.releases
        ],
        "techniques": list(cov.techniques),
        "covered": {t: [f"{fw}:{c}" for fw, c in ks] for t, ks in cov.covered.items()},
        "gaps": list(cov.gaps),
        "planned_cover": {t: [f"{fw}:{c}" for fw, c in ks] for t, ks in cov.planned_cover.items()},
        "suggestions": {
            fw: [{"id": s.capability_id, "name": s.name, "closes": list(s.closes)} for s in sugg]
            for fw, sugg in cov.suggestions.items()
        },
        "unmappable": list(cov.unmappable),
        "notes": list(r.notes),
    }


def run_gaps(args: argparse.Namespace) -> int:
    settings = settings_from(args)
    engine = engine_from(args, upgrade=False)
    query = " ".join(args.query).strip()
    with reads(engine) as data:
        index = build_index(data, data.data_version(), settings, use_cache=True)
    resolution = resolve(index, query)
    inventory = effective_inventory(engine, args.team, args.channel) if args.team else None
    frameworks = tuple(args.framework) or tuple(settings.default_frameworks)
    report = gap_report_for(engine, query, resolution, inventory, frameworks=frameworks)
    if isinstance(report, Refusal):
        print(f"countermap: {report.message}", file=sys.stderr)
        return 1
    if args.csv or args.navigator:
        _name, content = gap_csv(report) if args.csv else gap_layer(report)
        if args.output:
            Path(args.output).write_bytes(content)
        else:
            sys.stdout.buffer.write(content)
        return 0
    if args.json:
        print(json.dumps(report_json(report), indent=2))
    elif not args.quiet:
        print(as_text(gap_report_lines(report, PLAIN)))
    return 0
