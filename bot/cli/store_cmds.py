"""``countermap ingest | sync | stats | db``: loading data and looking after the database."""

from __future__ import annotations

import argparse
import sys
from typing import TYPE_CHECKING, Any

from bot.cli.common import EXIT_FAILED, add_output_options, engine_from, write_json

if TYPE_CHECKING:
    from store.db import Engine


def register(sub: Any) -> None:
    p = sub.add_parser(
        "ingest",
        help="load mapping files, ATT&CK bundles and description lists (files or folders)",
        description="Load Mappings Explorer files (JSON or YAML), ATT&CK STIX bundles and capability "
        "description lists. Folders are searched recursively; files are recognised by content. "
        "All or nothing: any bad file leaves the database as it was.",
    )
    p.add_argument("paths", nargs="+", metavar="PATH", help="file or folder")
    add_output_options(p, json_help="the report (every file, what was done, what was skipped) as JSON")
    p.set_defaults(func=run_ingest)

    p = sub.add_parser("stats", help="what the database holds, per release and in total")
    add_output_options(p)
    p.set_defaults(func=run_stats)

    p = sub.add_parser(
        "sync",
        help="download the current public releases and ingest them (all or nothing)",
        description="Find what upstream publishes now (ATT&CK's collection index, the Mappings Explorer "
        "repository's file listing; the catalogue in data/sources.yaml is the fallback and keeps its "
        "sha256 pins), download what changed (conditional requests, retries) into a temporary folder "
        "and ingest it in one run: a failure anywhere changes nothing. Each run's result is recorded "
        "for `countermap health` and /metrics. For cron: `countermap sync -q`.",
    )
    p.add_argument(
        "--mirror",
        metavar="URL|DIR",
        help="read from a mirror with the same layout (its index.json and mappings-tree.json when it "
        "has them: see `countermap mirror build`)",
    )
    p.add_argument("--sources", metavar="FILE", help="source catalogue (default: data/sources.yaml)")
    p.add_argument(
        "--only", action="append", metavar="TEXT", help="only sources whose path contains TEXT (repeatable)"
    )
    p.add_argument("--timeout", type=float, default=30.0, help="seconds per network operation (default 30)")
    p.add_argument("--retries", type=int, default=3, help="retries per file after the first try (default 3)")
    p.add_argument(
        "--no-discover",
        action="store_true",
        help="fetch only the catalogue's files (default: also what upstream's listings add)",
    )
    p.add_argument("--deadline", type=float, help="seconds for the whole run (default 1800)")
    add_output_options(p)
    p.set_defaults(func=run_sync)

    p = sub.add_parser("db", help="database schema: upgrade, current revision")
    dbsub = p.add_subparsers(dest="db_command", metavar="ACTION", required=True)
    q = dbsub.add_parser("upgrade", help="bring the schema to the newest revision")
    add_output_options(q)
    q.set_defaults(func=run_db_upgrade)
    q = dbsub.add_parser(
        "current",
        help="print the schema revision and the newest one (exit 1 when not at the newest)",
    )
    add_output_options(q)
    q.set_defaults(func=run_db_current)
    q = dbsub.add_parser("url", help="print the database URL in use (password masked)")
    add_output_options(q)
    q.set_defaults(func=run_db_url)


def run_ingest(args: argparse.Namespace) -> int:
    from store.db import DatabaseError, unavailable_reason
    from store.ingest import IngestError, ingest_paths

    engine = engine_from(args)
    quiet = args.quiet or args.json
    try:
        report = ingest_paths(engine, args.paths, progress=sys.stderr.isatty() and not quiet)
    except IngestError as exc:
        if args.json:
            write_json({"ok": False, "problems": [str(p) for p in exc.problems]})
        for problem in exc.problems:
            print(f"countermap ingest: {problem}", file=sys.stderr)
        print(f"countermap ingest: nothing loaded ({len(exc.problems)} problem(s))", file=sys.stderr)
        return EXIT_FAILED
    except DatabaseError as exc:
        if unavailable_reason(exc) is not None:
            raise  # the database went away: one line and exit 3, from main
        first = str(exc.orig if hasattr(exc, "orig") else exc).splitlines()[0]
        print(f"countermap ingest: database error, nothing loaded: {first}", file=sys.stderr)
        return EXIT_FAILED
    else:
        _warm_index_cache(engine, args)
    finally:
        engine.dispose()
    if args.json:
        write_json({"ok": True, **report.as_dict()})
        return 0
    if args.verbose:
        for f in report.files:
            detail = f" ({f.rows} rows)" if f.rows else ""
            print(f"{f.action:9} {f.kind:12} {f.key}{detail}  {f.path}")
        for domain, skipped in report.attack_skipped.items():
            print(f"skipped   {domain}: " + ", ".join(f"{n} {kind}" for kind, n in skipped.items()))
        for warning in report.attack_warnings:
            print(f"warning   {warning}")
    if not args.quiet:
        print(report.summary())
    return 0


def _warm_index_cache(engine: Engine, args: argparse.Namespace) -> None:
    """The resolver index for the new data, cached for ``countermap ask`` (skipped when a file
    for this data is there already, as after a run that changed nothing)."""
    from bot.cli.common import settings_from
    from bot.index_cache import warm

    warm(engine, settings_from(args))


def run_stats(args: argparse.Namespace) -> int:
    from store.stats import collect_stats

    engine = engine_from(args)
    try:
        stats = collect_stats(engine)
    finally:
        engine.dispose()
    if args.json:
        write_json(stats.as_dict())
    elif not args.quiet:
        _print_stats(stats)
    return 0


def _print_stats(stats: Any) -> None:
    from rich.console import Console
    from rich.table import Table

    console = Console(width=None if sys.stdout.isatty() else 140)
    table = Table(title="Mapping releases", title_justify="left")
    for name, justify in (
        ("framework", "left"),
        ("version", "left"),
        ("ATT&CK", "left"),
        ("domain", "left"),
        ("rows", "right"),
        ("non-mappable", "right"),
        ("capabilities", "right"),
        ("last update", "left"),
    ):
        table.add_column(name, justify=justify)  # type: ignore[arg-type]
    for r in stats.releases:
        table.add_row(
            r.framework,
            r.framework_version,
            r.attack_version,
            r.domain,
            f"{r.mapping_rows:,}",
            f"{r.non_mappable_rows:,}",
            f"{r.capabilities:,}",
            r.last_update or "",
        )
    console.print(table)
    console.print(
        f"{len(stats.releases)} releases, {stats.mappings_total:,} mapping rows "
        f"({stats.non_mappable_total:,} non-mappable), {stats.capabilities_total:,} capabilities"
    )
    if stats.attack:
        bundles = ", ".join(
            f"{b['domain']} {b['attack_version'] or '?'} ({b['techniques']:,} techniques)"
            for b in stats.attack
        )
        console.print(f"ATT&CK bundles: {bundles}")
    console.print(
        f"ATT&CK versions: {', '.join(stats.attack_versions) or 'none'}; "
        f"domains: {', '.join(stats.domains) or 'none'}"
    )
    if stats.description_sources:
        console.print(
            "Description lists: "
            + ", ".join(f"{s['source']} ({s['entries']})" for s in stats.description_sources)
        )
    if not stats.releases:
        console.print("The database is empty: run `countermap ingest PATH` or `countermap sync`.")


def run_sync(args: argparse.Namespace) -> int:
    from bot.cli.common import settings_from
    from store.sync import Budget, SyncError, Upstream, sync_sources

    settings = settings_from(args)
    engine = engine_from(args)
    upstream = None
    if settings.sync_discover and not args.no_discover:
        upstream = Upstream(
            attack_index_url=settings.sync_attack_index_url,
            mappings_tree_url=settings.sync_mappings_tree_url,
            mappings_raw_url=settings.sync_mappings_raw_url,
            token=settings.github_token,
            frameworks=settings.sync_frameworks,
            attack_version=settings.sync_attack_version,
        )
    budget = Budget(
        seconds=args.deadline or float(settings.sync_deadline_seconds),
        timeout_s=args.timeout,
        retry_after_cap=float(settings.sync_retry_after_cap_seconds),
        min_rate=float(settings.sync_min_rate_bytes),
    )
    try:
        result = sync_sources(
            engine,
            sources_file=args.sources or settings.sources_file,
            mirror=args.mirror,
            only=args.only,
            timeout=args.timeout,
            retries=args.retries,
            progress=sys.stderr.isatty() and not args.quiet and not args.json,
            upstream=upstream,
            budget=budget,
        )
    except SyncError as exc:
        _record_sync(engine, "failed", {"error": str(exc)[:1000]})
        engine.dispose()
        for line in str(exc).splitlines():
            print(f"countermap sync: {line}", file=sys.stderr)
        print("countermap sync: nothing changed", file=sys.stderr)
        if args.json:
            write_json({"ok": False, "error": str(exc)})
        return EXIT_FAILED
    try:
        changed = result.ingest is not None and result.ingest.changed
        _record_sync(engine, "changed" if changed else "unchanged", {"summary": result.summary()[:1000]})
        _warm_index_cache(engine, args)
    finally:
        engine.dispose()
    for warning in result.warnings:
        print(f"countermap sync: warning: {warning}", file=sys.stderr)
    if args.json:
        write_json(result.as_dict())
    elif not args.quiet:
        print(result.summary())
    return 0


def _record_sync(engine: Engine, result: str, detail: dict[str, str]) -> None:
    """Where ``countermap health`` and every server's ``/metrics`` read how the last sync ended
    (a cron run leaves no process behind); the counter too when this host shares the servers'
    metrics folder."""
    import os

    from bot.ops.metrics import MULTIPROC_ENV, observe_sync
    from store.state.heartbeats import record_sync_result

    try:
        record_sync_result(engine, result, detail)
    except Exception as exc:  # the sync itself is done (or failed for its own reason): say, go on
        print(f"countermap sync: could not record the run's result: {exc}", file=sys.stderr)
    if os.environ.get(MULTIPROC_ENV):
        observe_sync(result)


def run_db_upgrade(args: argparse.Namespace) -> int:
    from store.migrate import current_revision, head_revision

    engine = engine_from(args)  # upgrades
    try:
        current, head = current_revision(engine), head_revision()
    finally:
        engine.dispose()
    if args.json:
        write_json({"current": current, "head": head})
    elif not args.quiet:
        print(f"schema at {current} (head {head})")
    return 0


def run_db_current(args: argparse.Namespace) -> int:
    from store.migrate import current_revision, head_revision

    engine = engine_from(args, upgrade=False, must_exist=False)
    try:
        current, head = current_revision(engine), head_revision()
    finally:
        engine.dispose()
    if args.json:
        write_json({"current": current, "head": head, "up_to_date": current == head})
    elif not args.quiet:
        print(f"current: {current or '(empty database)'}\nhead:    {head}")
    return 0 if current == head else EXIT_FAILED


def run_db_url(args: argparse.Namespace) -> int:
    from bot.cli.common import settings_from
    from store.db import database_url, display_url

    url = display_url(database_url(settings_from(args).database_url))
    if args.json:
        write_json({"url": url})
    elif not args.quiet:
        print(url)
    return 0
