"""The databases a bench script runs on: the corpus ingested into a temporary SQLite file and a
temporary PostgreSQL database on the local server (dropped after), or URLs given."""

from __future__ import annotations

import argparse
import os
import tempfile
import uuid
from collections.abc import Callable
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
PG_ADMIN = "postgresql://postgres@127.0.0.1:5432/test"


def add_arguments(parser: argparse.ArgumentParser) -> None:
    parser.add_argument("--corpus", default=os.environ.get("COUNTERMAP_CORPUS", str(ROOT.parent / "shared")))
    parser.add_argument(
        "--sqlite", help="SQLite URL of an ingested corpus (default: ingest into a temp file)"
    )
    parser.add_argument("--pg", help="PostgreSQL URL of an ingested corpus (default: a temporary database)")
    parser.add_argument("--no-pg", action="store_true")


def on_backends(args: argparse.Namespace, bench: Callable[[str, str], None]) -> None:
    """``bench(label, url)`` on SQLite, then on PostgreSQL unless ``--no-pg``."""
    from store.db import make_engine
    from store.ingest import ingest_paths

    load = os.getloadavg()
    print(f"machine: {os.cpu_count()} CPUs, load average {load[0]:.2f} {load[1]:.2f} {load[2]:.2f}")
    with tempfile.TemporaryDirectory() as tmp:
        url = args.sqlite
        if not url:
            url = f"sqlite:///{Path(tmp) / 'corpus.db'}"
            ingest_paths(make_engine(url), [Path(args.corpus)])
        bench("SQLite", url)
    if args.no_pg:
        return
    if args.pg:
        bench("PostgreSQL", args.pg)
        return
    import psycopg

    name = f"cm_bench_{uuid.uuid4().hex[:8]}"
    with psycopg.connect(PG_ADMIN, autocommit=True) as conn:
        conn.execute(f'CREATE DATABASE "{name}"')
    try:
        url = f"postgresql+psycopg://postgres@127.0.0.1:5432/{name}"
        engine = make_engine(url)
        ingest_paths(engine, [Path(args.corpus)])
        engine.dispose()
        bench("PostgreSQL", url)
    finally:
        with psycopg.connect(PG_ADMIN, autocommit=True) as conn:
            conn.execute(f'DROP DATABASE IF EXISTS "{name}" WITH (FORCE)')
