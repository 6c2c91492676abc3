"""Alembic migrations: they build exactly the models' schema, and concurrent upgrades of a
fresh database (two web workers, two digest processes starting at once) do not fail."""

from __future__ import annotations

import subprocess
import sys
from pathlib import Path

import pytest
from sqlalchemy import Engine, inspect

from bot.cli import main as cli_main
from store.db import make_engine
from store.migrate import current_revision, head_revision, schema_diff, upgrade_to_head
from store.tables import full_metadata

PROJECT_ROOT = Path(__file__).resolve().parent.parent


def test_migrations_produce_exactly_the_models_schema(engine: Engine) -> None:
    assert schema_diff(engine) == []


def test_fresh_database_is_at_head_with_every_model_table(engine: Engine) -> None:
    assert current_revision(engine) == head_revision()
    tables = set(full_metadata().tables)
    assert {"mappings", "lookups", "digest_runs", "processed_events"} <= tables
    assert tables <= set(inspect(engine).get_table_names())


def test_the_bot_state_models_stay_out_of_answering_a_question() -> None:
    code = (
        "import sys, store.reads.dispatch, bot.resolve, bot.answer\n"
        "assert 'store.app_state' not in sys.modules, 'answering imports the bot state models'\n"
    )
    done = subprocess.run([sys.executable, "-c", code], cwd=PROJECT_ROOT, capture_output=True, text=True)
    assert done.returncode == 0, done.stderr


def test_upgrade_at_head_is_a_no_op(engine: Engine) -> None:
    upgrade_to_head(engine)
    assert current_revision(engine) == head_revision()
    assert schema_diff(engine) == []


# Each process imports everything, then waits at a file barrier so the upgrades really race.
_UPGRADE = """
import sys, time
from pathlib import Path
from store.db import make_engine
from store.migrate import upgrade
url, barrier, me, n = sys.argv[1], Path(sys.argv[2]), sys.argv[3], int(sys.argv[4])
engine = make_engine(url)
(barrier / me).touch()
deadline = time.time() + 60
while len(list(barrier.iterdir())) < n and time.time() < deadline:
    time.sleep(0.01)
upgrade(engine)
"""


def test_concurrent_upgrades_of_a_fresh_database_all_succeed(database_url: str, tmp_path: Path) -> None:
    barrier = tmp_path / "barrier"
    barrier.mkdir()
    procs = [
        subprocess.Popen(
            [sys.executable, "-c", _UPGRADE, database_url, str(barrier), str(i), "2"],
            cwd=PROJECT_ROOT,
            stdout=subprocess.PIPE,
            stderr=subprocess.PIPE,
            text=True,
        )
        for i in range(2)
    ]
    results = [(p.wait(timeout=120), p.stderr.read() if p.stderr else "") for p in procs]
    assert [code for code, _ in results] == [0, 0], [err for _, err in results]
    eng = make_engine(database_url)
    try:
        assert current_revision(eng) == head_revision()
        assert schema_diff(eng) == []
    finally:
        eng.dispose()


def test_countermap_db_upgrade_and_current(database_url: str, capsys: pytest.CaptureFixture[str]) -> None:
    assert cli_main(["--db", database_url, "db", "current"]) == 1  # not at head (3 is: database down)
    assert "(empty database)" in capsys.readouterr().out
    assert cli_main(["--db", database_url, "db", "upgrade"]) == 0
    assert cli_main(["--db", database_url, "db", "current"]) == 0
    assert f"current: {head_revision()}" in capsys.readouterr().out


@pytest.mark.parametrize("command", [["ask", "T1048"], ["export", "T1048", "--csv"], ["gaps", "T1048"]])
def test_a_read_only_command_on_an_older_schema_says_to_upgrade_it(
    database_url: str, engine: Engine, command: list[str], capsys: pytest.CaptureFixture[str]
) -> None:
    """``ask`` does not upgrade the schema (it must start fast): after an upgrade of countermap
    that adds a table, it names the revisions and the command, instead of "run ingest first"."""
    from alembic import command as alembic

    from store.migrate import alembic_config

    with engine.begin() as conn:
        alembic.downgrade(alembic_config(conn), "0001")
    assert cli_main(["--db", database_url, *command]) == 1
    err = capsys.readouterr().err
    assert f"schema is at revision 0001 and this countermap needs {head_revision()}" in err
    assert "countermap db upgrade" in err and "Traceback" not in err
