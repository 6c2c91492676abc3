"""``countermap analytics unanswered``: the questions people asked that found nothing or only a
guess, most asked first, so admins can add aliases where they are needed."""

from __future__ import annotations

import argparse
import datetime as dt
import json
import sys
from typing import Any

from bot.cli.common import engine_from, settings_from
from bot.render.unanswered import unanswered_json, unanswered_lines
from store.state.unanswered import prune_unanswered, top_unanswered


def register(sub: Any) -> None:
    p = sub.add_parser("analytics", help="what people ask: the unanswered questions")
    inner = p.add_subparsers(dest="report", required=True)
    u = inner.add_parser(
        "unanswered",
        help="questions that found nothing or a low-confidence guess, most asked first",
        description="Questions asked on Slack that resolved to nothing or to a guess scoring under "
        "unanswered_min_score, grouped by text (case and spacing ignored). Records older than "
        "unanswered_retention_days are pruned first.",
    )
    u.add_argument("--team", metavar="T…", help="one workspace only (default: every workspace)")
    u.add_argument("--days", type=int, default=None, help="look back this many days (default: the retention)")
    u.add_argument("--limit", type=int, default=20, help="how many questions (default 20, at most 500)")
    u.add_argument("--json", action="store_true", help="as JSON")
    u.set_defaults(func=run_unanswered)


def run_unanswered(args: argparse.Namespace) -> int:
    settings = settings_from(args)
    engine = engine_from(args)
    retention = settings.unanswered_retention_days
    days = retention if args.days is None else args.days
    if days < 1 or args.limit < 1:
        print("countermap: --days and --limit must be at least 1", file=sys.stderr)
        return 2
    now = dt.datetime.now(dt.UTC)
    prune_unanswered(engine, older_than=now - dt.timedelta(days=retention))
    rows = top_unanswered(engine, since=now - dt.timedelta(days=days), team_id=args.team, limit=args.limit)
    if args.json:
        json.dump(unanswered_json(rows, days=days), sys.stdout, indent=2)
        sys.stdout.write("\n")
    else:
        print("\n".join(unanswered_lines(rows, days=days)))
    return 0
