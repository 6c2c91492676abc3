"""``countermap digest``: the clock process (``run``) and operator views (``list``, ``preview``)."""

from __future__ import annotations

import argparse
import sys
from typing import Any

from bot.cli.common import EXIT_FAILED, add_output_options, write_json


def register(subparsers: Any) -> None:
    parser = subparsers.add_parser("digest", help="daily digests: run the clock process, list, preview")
    sub = parser.add_subparsers(dest="digest_command", metavar="ACTION", required=True)

    run = sub.add_parser("run", help="post due digests (the clock process); loops until SIGTERM")
    run.add_argument("--once", action="store_true", help="a single pass, then exit (0 unless a post failed)")
    run.add_argument(
        "--now",
        metavar="ISO",
        help="act as if it were this instant, e.g. 2026-11-28T09:01:00+00:00 (the loop ticks on from it)",
    )
    add_output_options(run, json_help="with --once: the pass report as JSON")
    run.set_defaults(func=run_cmd)

    ls = sub.add_parser("list", help="subscriptions and their next digest")
    ls.add_argument("--team", help="only this workspace (team ID)")
    ls.add_argument("--now", metavar="ISO", help="as of this instant")
    add_output_options(ls, json_help="the subscriptions as a JSON list")
    ls.set_defaults(func=list_cmd)

    pv = sub.add_parser("preview", help="a channel's digest as it would be posted now, as Block Kit JSON")
    pv.add_argument("--team", required=True, help="team ID")
    pv.add_argument("--channel", required=True, help="channel ID")
    pv.add_argument("--now", metavar="ISO", help="as of this instant")
    add_output_options(pv, json=False)  # the preview is JSON already
    pv.set_defaults(func=preview_cmd)


def _clock(now: str | None, *, ticking: bool) -> Any:
    from bot.digest.clock import FixedClock, OffsetClock, SystemClock, parse_instant

    if not now:
        return SystemClock()
    try:
        instant = parse_instant(now)
    except ValueError as exc:
        print(f"countermap digest: --now: {exc}", file=sys.stderr)
        raise SystemExit(2) from exc
    return OffsetClock(instant) if ticking else FixedClock(instant)


def run_cmd(args: argparse.Namespace) -> int:
    import logging
    import signal
    import threading

    from bot.cli.common import engine_from, settings_from
    from bot.cli.wiring import digest_runner
    from bot.ops.logs import configure_logging

    settings = settings_from(args)
    loud = (args.verbose or not args.once) and not args.quiet
    configure_logging(logging.INFO if loud else logging.WARNING, settings.log_format)
    clock = _clock(args.now, ticking=not args.once)
    engine = engine_from(args)
    stop = threading.Event()
    runner = digest_runner(engine, settings, clock=clock, stop=stop)
    if args.once:
        report = runner.run_once()
        if args.json:
            import dataclasses

            write_json({"at": clock.now().isoformat(), **dataclasses.asdict(report)})
        elif not args.quiet:
            print(f"digest pass at {clock.now().isoformat()}: {report.summary()}")
        for error in report.errors:
            print(f"  error: {error}", file=sys.stderr)
        return EXIT_FAILED if report.failed or report.retry else 0

    def _stop(signum: int, _frame: Any) -> None:
        logging.getLogger("bot.digest").info("signal %s: finishing the current post, then stopping", signum)
        stop.set()

    signal.signal(signal.SIGTERM, _stop)
    signal.signal(signal.SIGINT, _stop)
    scrapes = None
    if settings.metrics_port:
        from bot.ops.metrics import database_freshness, serve_metrics_port

        scrapes = serve_metrics_port(settings.metrics_port, freshness=lambda: database_freshness(engine))
        logging.getLogger("bot.digest").info("metrics at :%d/metrics", settings.metrics_port)
    try:
        runner.run_forever()
    finally:
        if scrapes is not None:
            scrapes.shutdown()
    return 0


def list_cmd(args: argparse.Namespace) -> int:
    from bot.cli.common import engine_from
    from bot.delivery_problems import error_code
    from bot.digest import subscriptions
    from bot.digest.clock import as_utc
    from store.state.digest_runs import newest_runs
    from store.state.scope import state_reads

    now = _clock(args.now, ticking=False).now()
    engine = engine_from(args)
    with state_reads(engine) as data:
        subs = data.team_subscriptions(args.team) if args.team else data.active_subscriptions()
        if not subs:
            if args.json:
                write_json([])
            elif not args.quiet:
                print("no active digest subscriptions")
            return 0
        last_runs = newest_runs(engine, [s.id for s in subs])
        if args.json:
            write_json([_subscription_json(s, last_runs.get(s.id), now) for s in subs])
            return 0
        if args.quiet:
            return 0
        for s in subs:
            last = last_runs.get(s.id)
            tail = (
                f" | last: {last.local_date} {last.status}"
                + (f" at {as_utc(last.sent_at):%Y-%m-%d %H:%M}Z" if last.sent_at else "")
                + (f" ({error_code(last.error)})" if last.status in ("failed", "retry") else "")
                if last
                else ""
            )
            line = subscriptions.summary(s, now).replace("*", "")
            print(f"{s.team_id}/{s.channel_id}: {line}{tail}")
    return 0


def _subscription_json(s: Any, last: Any, now: Any) -> dict[str, Any]:
    from bot.delivery_problems import error_code
    from bot.digest.clock import as_utc
    from bot.digest.schedule import next_due

    return {
        "team": s.team_id,
        "channel": s.channel_id,
        "time": s.time_local,
        "timezone": s.timezone,
        "frameworks": list(s.frameworks),
        "watch": list(s.watch),
        "post_when_quiet": s.post_when_quiet,
        "next": as_utc(next_due(s.time_local, s.timezone, now)).isoformat(),
        "last": None
        if last is None
        else {
            "local_date": str(last.local_date),
            "status": last.status,
            "sent_at": as_utc(last.sent_at).isoformat() if last.sent_at else None,
            "error": error_code(last.error) if last.status in ("failed", "retry") else None,
        },
    }


def preview_cmd(args: argparse.Namespace) -> int:
    import json

    from bot.cli.common import engine_from, settings_from
    from bot.digest.content import SubscriptionSpec, compose
    from bot.digest.render import render_digest
    from bot.digest.schedule import local_date_of
    from store.state.scope import state_reads

    settings = settings_from(args)
    now = _clock(args.now, ticking=False).now()
    engine = engine_from(args)
    with state_reads(engine) as data:
        sub = data.subscription(args.team, args.channel)
        if sub is None:
            spec = SubscriptionSpec(
                0, args.team, args.channel, settings.digest_time, settings.digest_timezone or "UTC",
                tuple(settings.digest_frameworks), (), True,
            )  # fmt: skip
        else:
            spec = SubscriptionSpec.of(sub)
        view = compose(data, [spec], now=now, local_date_for=lambda s: local_date_of(now, s.timezone))[0]
    rendered = render_digest(view)
    out = {"main": rendered.main.to_dict(), "thread": [p.to_dict() for p in rendered.thread]}
    print(json.dumps(out, indent=2, ensure_ascii=False))
    return 0
