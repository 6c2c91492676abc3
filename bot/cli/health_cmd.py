"""``countermap health``: every long-running process's last heartbeat, the data version and the last
sync, from anywhere that reaches the database; non-zero when a process is stale (for cron, a
container health check or a monitoring probe).

Exit status: 0 all reporting processes are fresh; 1 one is stale, an ``--expect``ed one never
reported, or none reported at all; 3 the database cannot be read.
"""

from __future__ import annotations

import argparse
import datetime as dt
import sys
from typing import Any

from bot.cli.common import EXIT_DB_DOWN, EXIT_FAILED, EXIT_OK, add_output_options, verbosity, write_json

PROCESSES = ("web", "worker", "clock")


def register(sub: Any) -> None:
    p = sub.add_parser(
        "health",
        help="last heartbeat of the web, worker and clock processes; data version; last sync",
        description="Report each long-running process's last heartbeat (web workers, the Socket Mode "
        "worker, the digest clock), the data version and the last sync.  Exit 1 when a process that "
        "reported is stale (or an --expect'ed one never did), 3 when the database cannot be read.",
    )
    add_output_options(p, json_help="the report as one JSON object")
    p.add_argument(
        "--expect",
        default="",
        metavar="KINDS",
        help="comma-separated processes that must be reporting (web,worker,clock)",
    )
    p.add_argument(
        "--stale-after", type=float, metavar="SECONDS", help="default: the heartbeat_stale_seconds setting"
    )
    p.set_defaults(func=run_health)


def _age(now: dt.datetime, then: dt.datetime | None) -> float | None:
    return None if then is None else round((now - then).total_seconds(), 1)


def _iso(value: dt.datetime | float | None) -> str | None:
    if value is None:
        return None
    if isinstance(value, float):
        value = dt.datetime.fromtimestamp(value, dt.UTC)
    return value.isoformat(timespec="seconds")


def health_report(engine: Any, stale_after: float, expect: set[str], now: dt.datetime) -> dict[str, Any]:
    """The report ``countermap health`` prints (JSON-ready); ``ok`` is the exit status."""
    from store.reads.scope import reads
    from store.state.freshness import data_times
    from store.state.heartbeats import heartbeats, sync_results

    beats = heartbeats(engine)
    syncs = sync_results(engine)
    with reads(engine) as data:
        version = data.data_version()
    loaded, synced = data_times(engine)
    processes: dict[str, Any] = {}
    for kind in sorted({*PROCESSES, *(b.process for b in beats)}):
        mine = [b for b in beats if b.process == kind]
        newest = mine[0].beat_at if mine else None
        age = _age(now, newest)
        status = "missing" if newest is None else ("stale" if (age or 0) > stale_after else "ok")
        processes[kind] = {
            "status": status,
            "expected": kind in expect,
            "last_beat_at": _iso(newest),
            "age_seconds": age,
            "instances": [
                {
                    "instance": b.instance,
                    "started_at": _iso(b.started_at),
                    "last_beat_at": _iso(b.beat_at),
                    "age_seconds": _age(now, b.beat_at),
                    "stale": (_age(now, b.beat_at) or 0) > stale_after,
                    **b.detail,
                }
                for b in mine
            ],
        }
    failing = [
        k for k, p in processes.items() if p["status"] == "stale" or (p["expected"] and not p["instances"])
    ]
    ok = bool(beats) and not failing
    return {
        "ok": ok,
        "failing": failing if beats else ["no process has reported"],
        "stale_after_seconds": stale_after,
        "data_version": version,
        "data_loaded_at": _iso(loaded),
        "last_sync_at": _iso(synced),
        "sync_runs": {
            result: {"at": _iso(b.beat_at), "age_seconds": _age(now, b.beat_at), **b.detail}
            for result, b in sorted(syncs.items())
        },
        "processes": processes,
    }


def _text(report: dict[str, Any]) -> str:
    lines = [
        f"data version {report['data_version'] or '(no data)'}, "
        f"loaded {report['data_loaded_at'] or 'never'}, last sync {report['last_sync_at'] or 'never'}"
    ]
    runs = report["sync_runs"]
    if runs:
        newest = max(runs, key=lambda r: runs[r]["age_seconds"] * -1)
        ended = ", ".join(f"{r} {runs[r]['age_seconds']:.0f} s ago" for r in runs)
        lines.append(f"sync    last run {newest}; last ended {ended}")
    for kind, proc in report["processes"].items():
        if not proc["instances"]:
            lines.append(f"{kind:<7} {'MISSING' if proc['expected'] else 'not running'} (never reported)")
            continue
        lines.append(f"{kind:<7} {proc['status'].upper() if proc['status'] != 'ok' else 'ok'}: "
                     f"last beat {proc['age_seconds']:.0f} s ago")  # fmt: skip
        for inst in proc["instances"]:
            version = inst.get("data_version")
            extra = f", data {version}" if version else ""
            if "at" in inst:
                extra += f", last pass {inst['at']}{'' if inst.get('ok', True) else ' (failed)'}"
            state = "stale" if inst["stale"] else "alive"
            lines.append(f"  {inst['instance']:<28} {state}, beat {inst['age_seconds']:.0f} s ago, "
                         f"up since {inst['started_at']}{extra}")  # fmt: skip
    verdict = "healthy" if report["ok"] else "UNHEALTHY: " + ", ".join(report["failing"])
    lines.append(f"{verdict} (stale after {report['stale_after_seconds']:.0f} s)")
    return "\n".join(lines)


def run_health(args: argparse.Namespace) -> int:
    from bot.cli.common import settings_from
    from store.db import DatabaseError, DatabaseMissing, database_url, display_url, make_engine

    settings = settings_from(args)
    stale_after = (
        args.stale_after if args.stale_after is not None else float(settings.heartbeat_stale_seconds)
    )
    expect = {k.strip() for k in args.expect.split(",") if k.strip()}
    where = display_url(database_url(settings.database_url))
    try:
        engine = make_engine(settings.database_url, create=False)  # a health check never creates one
        try:
            report = health_report(engine, stale_after, expect, dt.datetime.now(dt.UTC))
        finally:
            engine.dispose()
    except (DatabaseMissing, DatabaseError) as exc:
        reason = str(exc).splitlines()[0] if str(exc) else exc.__class__.__name__
        print(f"countermap: database {where} is unavailable: {reason}", file=sys.stderr)
        return EXIT_DB_DOWN
    if args.json:
        write_json(report)
    elif verbosity(args) >= 0 or not report["ok"]:  # -q: only an unhealthy report is printed
        print(_text(report))
    return EXIT_OK if report["ok"] else EXIT_FAILED
