"""Alembic migrations: they build exactly the models' schema, and concurrent upgrades of a
fresh database (two web workers, two digest processes starting at once) do not fail."""

from __future__ import annotations

import subprocess
import sys
from pathlib import Path

from sqlalchemy import Engine, inspect

from store.db import make_engine
from store.migrate import current_revision, head_revision, schema_diff, upgrade_to_head
from store.models import Base

PROJECT_ROOT = Path(__file__).resolve().parent.parent


def test_migrations_produce_exactly_the_models_schema(engine: Engine) -> None:
    assert schema_diff(engine) == []


def test_fresh_database_is_at_head_with_every_model_table(engine: Engine) -> None:
    assert current_revision(engine) == head_revision()
    assert set(Base.metadata.tables) <= set(inspect(engine).get_table_names())


def test_upgrade_at_head_is_a_no_op(engine: Engine) -> None:
    upgrade_to_head(engine)
    assert current_revision(engine) == head_revision()
    assert schema_diff(engine) == []


_UPGRADE = "import sys; from store.db import make_engine, upgrade; upgrade(make_engine(sys.argv[1]))"


def test_concurrent_upgrades_of_a_fresh_database_all_succeed(database_url: str) -> None:
    procs = [
        subprocess.Popen(
            [sys.executable, "-c", _UPGRADE, database_url],
            cwd=PROJECT_ROOT,
            stdout=subprocess.PIPE,
            stderr=subprocess.PIPE,
            text=True,
        )
        for _ in range(3)
    ]
    results = [(p.wait(timeout=120), p.stderr.read() if p.stderr else "") for p in procs]
    assert [code for code, _ in results] == [0, 0, 0], [err for _, err in results]
    eng = make_engine(database_url)
    try:
        assert current_revision(eng) == head_revision()
        assert schema_diff(eng) == []
    finally:
        eng.dispose()


def test_countermap_db_upgrade_and_current(database_url: str) -> None:
    cli = [str(Path(sys.executable).parent / "countermap"), "--db", database_url, "db"]
    before = subprocess.run([*cli, "current"], cwd=PROJECT_ROOT, capture_output=True, text=True)
    assert before.returncode == 3 and "(empty database)" in before.stdout
    up = subprocess.run([*cli, "upgrade"], cwd=PROJECT_ROOT, capture_output=True, text=True)
    assert up.returncode == 0, up.stderr
    after = subprocess.run([*cli, "current"], cwd=PROJECT_ROOT, capture_output=True, text=True)
    assert after.returncode == 0 and f"current: {head_revision()}" in after.stdout
