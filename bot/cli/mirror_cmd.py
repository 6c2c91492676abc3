"""``countermap mirror build DIR``: a folder for an air-gapped SOC to ``sync --mirror`` from."""

from __future__ import annotations

import argparse
import sys
from pathlib import Path
from typing import Any

from bot.cli.common import EXIT_FAILED, add_output_options, engine_from, settings_from, write_json


def register(sub: Any) -> None:
    p = sub.add_parser("mirror", help="build a mirror folder for `sync --mirror` (air-gapped sites)")
    msub = p.add_subparsers(dest="mirror_command", metavar="ACTION", required=True)
    q = msub.add_parser(
        "build",
        help="write DIR with the data files and the listings sync reads (index.json, mappings-tree.json)",
        description="Write a mirror: the data files in the download layout (mappings/..., attack/..., "
        "capability-descriptions/...), an ATT&CK collection index (index.json) and a Mappings Explorer "
        "tree listing (mappings-tree.json) in upstream's formats, so `countermap sync --mirror DIR` on "
        "a machine without Internet access finds every release in it. By default the files are those "
        "the database holds, each checked against the sha256 recorded when it was loaded; with "
        "--download, what upstream lists now. DIR is replaced only once every file is in.",
    )
    q.add_argument("dir", metavar="DIR", help="the mirror folder (created, or replaced when complete)")
    q.add_argument(
        "--download",
        action="store_true",
        help="download what upstream lists now (the sync_* settings), not what the database holds",
    )
    q.add_argument(
        "--sources", metavar="FILE", help="source catalogue for --download (default: data/sources.yaml)"
    )
    q.add_argument(
        "--no-discover", action="store_true", help="with --download: only the catalogue's files, no listings"
    )
    q.add_argument("--timeout", type=float, default=30.0, help="seconds per network operation (default 30)")
    q.add_argument("--retries", type=int, default=3, help="retries per file after the first try (default 3)")
    add_output_options(q, json_help="the files written as JSON")
    q.set_defaults(func=run_mirror_build)


def run_mirror_build(args: argparse.Namespace) -> int:
    import httpx

    from store.mirror import MirrorError, MirrorReport, build_mirror, database_files, download_files
    from store.sync import SyncError, Upstream, load_sources
    from store.sync_http import Budget

    settings = settings_from(args)
    target = Path(args.dir)
    budget = Budget(
        seconds=float(settings.sync_deadline_seconds),
        timeout_s=args.timeout,
        retry_after_cap=float(settings.sync_retry_after_cap_seconds),
        min_rate=float(settings.sync_min_rate_bytes),
    )
    warnings: list[str] = []
    skipped: list[str] = []
    try:
        with httpx.Client(follow_redirects=True, headers={"User-Agent": "countermap-mirror"}) as client:
            if args.download:
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
                pinned = load_sources(args.sources or settings.sources_file)
                files, skipped, warnings = download_files(client, pinned, upstream, budget)
            else:
                engine = engine_from(args, upgrade=False)
                try:
                    files = database_files(engine)
                finally:
                    engine.dispose()
            report: MirrorReport = build_mirror(
                target, files, client=client, retries=args.retries, budget=budget
            )
    except (MirrorError, SyncError) as exc:
        for line in str(exc).splitlines():
            print(f"countermap mirror: {line}", file=sys.stderr)
        print(f"countermap mirror: nothing written to {target}", file=sys.stderr)
        if args.json:
            write_json({"ok": False, "error": str(exc)})
        return EXIT_FAILED
    report.skipped = skipped
    for warning in warnings:
        print(f"countermap mirror: warning: {warning}", file=sys.stderr)
    if args.json:
        write_json({"ok": True, "dir": str(target.absolute()), **report.as_dict(), "warnings": warnings})
    elif not args.quiet:
        print(report.summary(target))
    return 0
