"""``countermap serve`` (run the Slack app) and ``countermap manifest`` (describe it to Slack)."""

from __future__ import annotations

import argparse
import os
import sys

from bot.cli.common import EXIT_DB_DOWN, EXIT_USAGE, add_output_options, settings_from, write_json
from bot.config import Settings


def register(sub: argparse._SubParsersAction) -> None:
    serve = sub.add_parser(
        "serve",
        help="run the Slack app (HTTP or Socket Mode)",
        description="Run the Slack app: --http serves /slack/events, /slack/install, "
        "/slack/oauth_redirect, /healthz, /readyz and /metrics with gunicorn; --socket connects to Slack "
        "over a websocket (no inbound endpoint needed), and with --port also serves /slack/install and "
        "/slack/oauth_redirect (many workspaces), /healthz, /readyz and /metrics on that port.  The "
        "database schema is brought up to date first.",
    )
    how = serve.add_mutually_exclusive_group(required=True)
    how.add_argument("--http", action="store_true", help="serve HTTP (needs SLACK_SIGNING_SECRET)")
    how.add_argument("--socket", action="store_true", help="Socket Mode (needs SLACK_APP_TOKEN)")
    serve.add_argument("--host", default=os.environ.get("HOST", "0.0.0.0"), help="HTTP bind address")
    serve.add_argument(
        "--port",
        type=int,
        help="HTTP port (default $PORT, else 3000); with --socket: the install, health and metrics "
        "port (none unless given)",
    )
    serve.add_argument("--workers", type=int, help="HTTP worker processes (default $WEB_CONCURRENCY, else 2)")
    serve.add_argument("--threads", type=int, default=8, help="threads per HTTP worker (default 8)")
    serve.add_argument(
        "--log-level",
        default=os.environ.get("LOG_LEVEL", "info"),
        help="default info (-q: warning, -v: debug)",
    )
    add_output_options(serve, json=False)
    serve.set_defaults(func=run_serve)

    manifest = sub.add_parser(
        "manifest",
        help="print the Slack app manifest (YAML)",
        description="Print the app manifest to paste at https://api.slack.com/apps -> Create New App -> "
        "From a manifest.  Socket Mode needs no public address; HTTP mode takes the server's https URL.",
    )
    mode = manifest.add_mutually_exclusive_group()
    mode.add_argument("--socket", action="store_true", help="Socket Mode (the default)")
    mode.add_argument("--http", metavar="URL", help="HTTP mode, served at this public https:// address")
    manifest.add_argument(
        "--redirect-url",
        metavar="URL",
        help="OAuth redirect URL (https://HOST[/slack/oauth_redirect]): Socket Mode installed in many "
        "workspaces, where `serve --socket --port` serves the install pages (HTTP mode derives it)",
    )
    manifest.add_argument("--name", default="countermap", help="app and bot name (default countermap)")
    manifest.add_argument(
        "--token-rotation",
        action="store_true",
        help="turn on token rotation (for OAuth installs in many workspaces; cannot be turned off later)",
    )
    add_output_options(manifest, json_help="the manifest as JSON (Slack accepts either)")
    manifest.set_defaults(func=run_manifest)


def run_manifest(args: argparse.Namespace) -> int:
    from bot.slack.manifest import ManifestError, Mode, build_manifest, render_manifest

    settings = settings_from(args)
    mode: Mode = "http" if args.http else "socket"
    try:
        if args.json:
            manifest = build_manifest(
                settings,
                mode=mode,
                base_url=args.http,
                name=args.name,
                token_rotation=args.token_rotation,
                redirect_url=args.redirect_url,
            )
            write_json(manifest)
        else:
            text = render_manifest(
                settings,
                mode=mode,
                base_url=args.http,
                name=args.name,
                token_rotation=args.token_rotation,
                redirect_url=args.redirect_url,
            )
            sys.stdout.write(text)
    except ManifestError as exc:
        print(f"countermap manifest: {exc}", file=sys.stderr)
        return EXIT_USAGE
    return 0


def _missing(settings: Settings, http: bool) -> str | None:
    """What is missing to run in the chosen mode, or None."""
    from bot.slack.oauth import uses_oauth

    if not (settings.slack_bot_token or uses_oauth(settings)):
        if settings.slack_client_id or settings.slack_client_secret:
            return "SLACK_CLIENT_ID and SLACK_CLIENT_SECRET must be set together."
        return "Neither SLACK_BOT_TOKEN (one workspace) nor SLACK_CLIENT_ID/SLACK_CLIENT_SECRET is set."
    if http and not settings.slack_signing_secret:
        return "HTTP mode needs SLACK_SIGNING_SECRET (Basic Information -> App Credentials)."
    if not http and not settings.slack_app_token:
        return "Socket Mode needs SLACK_APP_TOKEN (Basic Information -> App-Level Tokens, connections:write)."
    return None


def run_serve(args: argparse.Namespace) -> int:
    from bot.ops.logs import add_filter, configure_logging
    from bot.slack.logs import OneLine
    from bot.slack.oauth import SETUP_HELP, SlackNotConfigured

    settings = settings_from(args)
    try:
        port = args.port or int(os.environ.get("PORT") or 3000)
        workers = args.workers or int(os.environ.get("WEB_CONCURRENCY") or 2)
    except ValueError:
        print("countermap serve: $PORT and $WEB_CONCURRENCY must be whole numbers", file=sys.stderr)
        return 2
    if workers < 1 or args.threads < 1 or not 0 < port < 65536:
        print("countermap serve: --workers and --threads must be at least 1, --port 1-65535", file=sys.stderr)
        return 2
    problem = _missing(settings, args.http)
    if problem:
        print(f"{problem}\n\n{SETUP_HELP}", file=sys.stderr, end="")
        return 2
    if args.quiet or args.verbose:
        args.log_level = "warning" if args.quiet else "debug"
    configure_logging(args.log_level, settings.log_format)
    add_filter(OneLine())  # request data from anyone on the internet: one bounded line per record

    from bot.slack.runtime import prepare_database
    from store.db import DatabaseError, DatabaseMissing

    try:
        prepare_database(settings)
    except DatabaseMissing as exc:
        print(f"countermap serve: {exc}. A server never creates its database: load the data first "
              "with `countermap sync` (or `countermap ingest DIR`), or set DATABASE_URL.",
              file=sys.stderr)  # fmt: skip
        return EXIT_DB_DOWN
    except DatabaseError as exc:
        from store.db import DatabaseUnavailable, database_url, display_url, unavailable_reason

        reason = unavailable_reason(exc)
        if reason is not None:  # down: one line naming it and exit 3, as every command (bot.cli.main)
            raise DatabaseUnavailable(database_url(settings.database_url), reason) from None
        where = display_url(database_url(settings.database_url))
        print(f"countermap serve: cannot prepare the database at {where}: {exc.__class__.__name__}: "
              f"{str(exc).splitlines()[0]}", file=sys.stderr)  # fmt: skip
        return 1
    from bot.cli.wiring import app_factory

    try:
        if args.http:
            from bot.slack.server import serve_http

            serve_http(
                settings,
                host=args.host,
                port=port,
                workers=workers,
                threads=args.threads,
                log_level=args.log_level,
                factory=app_factory(),
            )
        else:
            from bot.slack.socket_mode import serve_socket

            serve_socket(settings, factory=app_factory(), host=args.host, port=args.port)
    except SlackNotConfigured as exc:
        print(str(exc), file=sys.stderr)
        return 2
    return 0
