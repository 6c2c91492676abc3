"""Helpers shared by subcommands: settings and the engine, built once from the global options."""

from __future__ import annotations

import argparse
import sys

from sqlalchemy import Engine

from bot.config import ConfigError, Settings, load_settings


def settings_from(args: argparse.Namespace) -> Settings:
    try:
        settings = load_settings(getattr(args, "config", None))
    except ConfigError as exc:
        print(f"countermap: {exc}", file=sys.stderr)
        raise SystemExit(2) from exc
    if getattr(args, "db", None):
        settings = settings.with_(database_url=args.db)
    from bot.ops.logs import configure_logging

    configure_logging(None, settings.log_format)  # the level each command chose, masked, as configured
    return settings


def engine_from(args: argparse.Namespace, *, upgrade: bool = True) -> Engine:
    """The engine for ``--db`` / ``DATABASE_URL`` / the default file, schema brought up to date."""
    from store.db import make_engine
    from store.migrate import upgrade as upgrade_schema

    engine = make_engine(settings_from(args).database_url)
    if upgrade:
        upgrade_schema(engine)
    return engine
