"""Schema management with Alembic, driven from code (no alembic.ini to ship or find).

``upgrade_to_head`` is what ingest, serve and the digest runner call at start.  Several
processes may start at once on a fresh database, so the upgrade runs inside one transaction
that first takes a lock: a PostgreSQL advisory lock, or SQLite's write lock (BEGIN IMMEDIATE).
The second process then finds the schema at head and does nothing.

While countermap is pre-release the history is one initial revision generated from
``store.models``; after changing the models, regenerate it with::

    .venv/bin/python -m store.migrate regenerate
"""

from __future__ import annotations

import argparse
import functools
import shutil
import subprocess
import sys
from importlib import resources
from pathlib import Path

from alembic import command
from alembic.autogenerate import compare_metadata
from alembic.config import Config
from alembic.runtime.migration import MigrationContext
from alembic.script import ScriptDirectory
from sqlalchemy import Connection, Engine, create_engine, text

from store.db import write_connection
from store.tables import full_metadata

__all__ = ["alembic_config", "current_revision", "head_revision", "schema_diff", "upgrade", "upgrade_to_head"]

# Alembic finds the scripts as a package resource, so an installed wheel works as a checkout does.
SCRIPT_LOCATION = "store:migrations"
_LOCK_KEY = 0x636D6170  # "cmap": the advisory lock id every countermap process agrees on


def alembic_config(connection: Connection | None = None) -> Config:
    config = Config()
    config.set_main_option("script_location", SCRIPT_LOCATION)
    config.set_main_option("version_path_separator", "os")
    if connection is not None:
        config.attributes["connection"] = connection
    return config


@functools.cache
def head_revision() -> str | None:
    return ScriptDirectory.from_config(alembic_config()).get_current_head()


def current_revision(engine: Engine) -> str | None:
    with engine.connect() as conn:
        return MigrationContext.configure(conn).get_current_revision()


def upgrade_to_head(engine: Engine) -> None:
    """Bring the schema to head; cheap when it already is (one query, no lock)."""
    head = head_revision()
    if head is not None and current_revision(engine) == head:
        return
    with write_connection(engine) as conn:
        if conn.dialect.name == "postgresql":
            conn.execute(text("SELECT pg_advisory_xact_lock(:key)"), {"key": _LOCK_KEY})
        # Under the lock: another process may have finished the upgrade meanwhile.
        if head is not None and MigrationContext.configure(conn).get_current_revision() == head:
            return
        command.upgrade(alembic_config(conn), "head")


def upgrade(engine: Engine) -> None:
    """Bring the schema to the newest revision (Alembic); a fresh database gets every table."""
    upgrade_to_head(engine)


def schema_diff(engine: Engine) -> list[object]:
    """Differences between the database and ``store.models`` (empty when they agree)."""
    with engine.connect() as conn:
        ctx = MigrationContext.configure(conn, opts={"compare_type": True, "compare_server_default": True})
        return list(compare_metadata(ctx, full_metadata()))


def regenerate() -> Path:
    """Replace the migration history with one initial revision generated from the models.

    A developer's command: it rewrites the files of the checkout (an editable install)."""
    versions = Path(str(resources.files("store.migrations.versions")))
    for old in versions.glob("*.py"):
        if old.name != "__init__.py":
            old.unlink()
    shutil.rmtree(versions / "__pycache__", ignore_errors=True)
    head_revision.cache_clear()
    engine = create_engine("sqlite://")
    with engine.begin() as conn:
        script = command.revision(
            alembic_config(conn), message="initial schema", autogenerate=True, rev_id="0001"
        )
    engine.dispose()
    assert script is not None and not isinstance(script, list)
    path = Path(script.path)
    path.write_text("\n".join(line.rstrip() for line in path.read_text().splitlines()) + "\n")
    ruff = Path(sys.executable).parent / "ruff"
    if ruff.exists():  # keep the generated file as tidy as the rest of the tree
        subprocess.run([str(ruff), "format", "-q", str(path)], check=False)
        subprocess.run([str(ruff), "check", "--fix", "-q", str(path)], check=False)
    return path


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(prog="python -m store.migrate", description=__doc__.split("\n\n")[0])
    sub = parser.add_subparsers(dest="action", required=True)
    sub.add_parser("regenerate", help="rewrite the initial revision from store.models (pre-release only)")
    sub.add_parser("heads", help="print the head revision")
    args = parser.parse_args(argv)
    if args.action == "regenerate":
        print(f"wrote {regenerate()}")
    else:
        print(head_revision())
    return 0


if __name__ == "__main__":
    sys.exit(main())
