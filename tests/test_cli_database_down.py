"""A database that is down, or a read-only command's database that does not exist, is one line on
stderr naming the database (password masked) and why, and exit status 3: never a traceback, never
"run countermap ingest first", never an empty database created in its place."""

from __future__ import annotations

import socket
from collections.abc import Iterator
from pathlib import Path

import pytest

from bot.cli import main
from bot.cli.common import EXIT_DB_DOWN

PASSWORD = "s3cr3t-pw"

COMMANDS = [
    ["resolve", "T1048"],
    ["stats"],
    ["digest", "run", "--once"],
    ["digest", "list"],
    ["ingest", "INPUT"],
    ["db", "current"],
    ["db", "upgrade"],
    ["ask", "T1048"],
    ["gaps", "T1048"],
    ["inventory", "list", "--team", "T1"],
    ["export", "T1048", "--csv"],
    ["sync", "--no-discover", "--mirror", "INPUT"],
]


def _closed_port() -> int:
    """A port on 127.0.0.1 that nothing listens on (bound, then released)."""
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return int(s.getsockname()[1])


@pytest.fixture(params=["unreachable", "unopenable"])
def down_url(request: pytest.FixtureRequest, backend: str, tmp_path: Path) -> Iterator[str]:
    """A database URL that cannot be used, on ``backend``: PostgreSQL refusing connections or
    naming a database that does not exist; SQLite naming a folder or a file that is not a
    database."""
    if backend == "postgresql":
        if request.param == "unreachable":
            yield f"postgresql+psycopg://postgres:{PASSWORD}@127.0.0.1:{_closed_port()}/countermap"
        else:
            yield f"postgresql+psycopg://postgres:{PASSWORD}@127.0.0.1:5432/cm_no_such_db_{tmp_path.name[-8:]}"
    elif request.param == "unreachable":
        folder = tmp_path / "a-folder.db"
        folder.mkdir()
        yield f"sqlite:///{folder}"
    else:
        junk = tmp_path / "junk.db"
        junk.write_bytes(b"this is not a SQLite database, " * 200)
        yield f"sqlite:///{junk}"


def _where(url: str) -> str:
    return url.replace(PASSWORD, "***").split("@")[-1] if "@" in url else url.removeprefix("sqlite:///")


@pytest.mark.parametrize("command", COMMANDS, ids=lambda c: " ".join(c[:2]))
def test_a_database_that_is_down_is_one_line_and_exit_3(
    down_url: str, command: list[str], tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    argv = [str(tmp_path) if a == "INPUT" else a for a in command]  # never read: the database fails first
    assert main(["--db", down_url, *argv]) == EXIT_DB_DOWN
    captured = capsys.readouterr()
    lines = captured.err.strip().splitlines()
    assert len(lines) == 1, captured.err
    (line,) = lines
    assert line.startswith("countermap: database ")
    assert "is unavailable: " in line
    assert _where(down_url) in line
    assert PASSWORD not in captured.err + captured.out
    assert "Traceback" not in line and "ingest` first" not in line
    assert line.split("is unavailable: ", 1)[1].strip()  # the reason


def test_the_reason_is_the_drivers_own(tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    url = f"postgresql+psycopg://postgres:{PASSWORD}@127.0.0.1:{_closed_port()}/countermap"
    assert main(["--db", url, "stats"]) == EXIT_DB_DOWN
    err = capsys.readouterr().err
    assert "postgres:***@127.0.0.1" in err
    assert "refused" in err.lower()


def test_ask_refuses_a_sqlite_file_that_does_not_exist(
    tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    typo = tmp_path / "countermpa.db"
    assert main(["--db", f"sqlite:///{typo}", "ask", "T1048"]) == EXIT_DB_DOWN
    err = capsys.readouterr().err
    assert str(typo) in err and "no such file" in err
    assert not typo.exists()


def test_ask_create_makes_the_database(tmp_path: Path) -> None:
    new = tmp_path / "new.db"
    assert main(["--db", f"sqlite:///{new}", "ask", "--create", "T1048"]) in (0, 1)
    assert new.exists()


def test_read_only_commands_that_create_nothing_leave_no_file(
    tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    typo = tmp_path / "sub" / "typo.db"
    assert main(["--db", f"sqlite:///{typo}", "gaps", "T1048"]) == EXIT_DB_DOWN
    assert not typo.exists()


def _wrapped(orig: BaseException) -> BaseException:
    from sqlalchemy.exc import DBAPIError

    return DBAPIError.instance("SELECT 1", {}, orig, type(orig))  # type: ignore[arg-type]


def test_only_connection_failures_count_as_the_database_being_down() -> None:
    """A refused statement (an index row too large, a missing table) is an error of the
    command, not an outage: it must not be reported as 'unavailable'."""
    import sqlite3

    import psycopg

    from store.db import unavailable_reason

    assert unavailable_reason(_wrapped(psycopg.OperationalError("connection failed: Connection refused")))
    assert (
        unavailable_reason(_wrapped(sqlite3.OperationalError("database is locked"))) == "database is locked"
    )
    assert unavailable_reason(_wrapped(sqlite3.DatabaseError("file is not a database")))
    assert unavailable_reason(_wrapped(sqlite3.OperationalError("no such table: mappings"))) is None
    assert unavailable_reason(_wrapped(psycopg.errors.ProgramLimitExceeded("index row size 5784"))) is None
    assert unavailable_reason(_wrapped(psycopg.errors.UndefinedTable("relation does not exist"))) is None
    assert unavailable_reason(_wrapped(psycopg.errors.AdminShutdown("terminating connection")))
    assert unavailable_reason(ValueError("not a database error")) is None
