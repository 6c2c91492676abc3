"""Engines and sessions.  SQLite is the embedded default; PostgreSQL comes via DATABASE_URL."""

from __future__ import annotations

import os
import re
import weakref
from collections.abc import Iterator
from concurrent.futures import ThreadPoolExecutor
from contextlib import contextmanager
from functools import partial
from pathlib import Path
from typing import Any
from urllib.parse import quote

from sqlalchemy import Connection, Engine, create_engine, event
from sqlalchemy import exc as sa_exc
from sqlalchemy.engine import make_url
from sqlalchemy.orm import Session, configure_mappers, sessionmaker

# What bot holds and catches, named here so that bot never imports SQLAlchemy: an engine is the
# opaque handle bot passes to store's functions (bot opens no connection or session on it).
DatabaseError = sa_exc.SQLAlchemyError  # any error a database call raises
# What a read raises when the database lacks countermap's tables (or is down: see unavailable_reason)
MissingData = (sa_exc.OperationalError, sa_exc.ProgrammingError)


class DatabaseUnavailable(Exception):
    """The database cannot be reached or opened.  The message names it, password masked, and
    says why, in one line: what an operator needs, instead of a driver traceback."""

    def __init__(self, url: str, reason: str) -> None:
        self.url = display_url(url)
        self.reason = reason
        super().__init__(f"database {self.url} is unavailable: {reason}")


def display_url(url: str) -> str:
    """A database URL fit to print: the password replaced by ***."""
    try:
        return make_url(url).render_as_string(hide_password=True)
    except Exception:  # not a URL SQLAlchemy parses: mask anything between ':' and '@'
        return re.sub(r"(://[^:/@]*:)[^@]*@", r"\1***@", url)


# SQLite errors that say the query (or the schema) is wrong, not that the database is out of reach.
_SQLITE_NOT_DOWN = ("no such table", "no such column", "syntax error", "has no column", "constraint failed")


def unavailable_reason(exc: BaseException) -> str | None:
    """Why ``exc`` means the database cannot be used at all (unreachable, refused, unopenable,
    locked, corrupt), as one line; None for any other error, such as a missing table."""

    if isinstance(exc, DatabaseUnavailable):
        return exc.reason
    if not isinstance(exc, sa_exc.OperationalError | sa_exc.InterfaceError | sa_exc.DatabaseError):
        return None
    if isinstance(exc, sa_exc.IntegrityError | sa_exc.ProgrammingError | sa_exc.DataError):
        return None
    orig = getattr(exc, "orig", None) or exc
    text = " ".join(str(orig).split()) or orig.__class__.__name__
    module = type(orig).__module__
    if module.startswith("sqlite3") or "sqlite" in module:
        lowered = text.lower()
        if any(marker in lowered for marker in _SQLITE_NOT_DOWN):
            return None
    elif not isinstance(exc, sa_exc.OperationalError | sa_exc.InterfaceError):
        return None
    else:
        # PostgreSQL: a statement the server refused (a limit, a timeout, a lock) is not an
        # outage; connection failures carry no SQLSTATE or one of these classes.
        sqlstate = getattr(orig, "sqlstate", None)
        if sqlstate and not exc.connection_invalidated and not sqlstate.startswith(_PG_DOWN):
            return None
    return text[:300]


# connection exception, insufficient resources, operator intervention (shutdown, cannot connect
# now), invalid authorization, invalid catalog (no such database)
_PG_DOWN = ("08", "53", "57P", "28", "3D")


def sqlite_file(url: str) -> Path | None:
    """The file a SQLite URL names (None for PostgreSQL and in-memory databases)."""
    if not url.startswith("sqlite:///") or url in ("sqlite:///:memory:", "sqlite://"):
        return None
    return Path(url[len("sqlite:///") :].split("?", 1)[0]).expanduser()


def ensure_reachable(engine: Engine) -> None:
    """One connection round trip, so a database that is down fails here, in one clear line,
    rather than deep inside a command."""
    try:
        with engine.connect():
            pass
    except Exception as exc:
        reason = unavailable_reason(exc)
        if reason is None:
            raise
        raise DatabaseUnavailable(engine.url.render_as_string(hide_password=False), reason) from None


def default_sqlite_path() -> Path:
    """``$XDG_DATA_HOME/countermap/countermap.db`` (``~/.local/share/...`` when unset)."""
    base = os.environ.get("XDG_DATA_HOME") or str(Path.home() / ".local" / "share")
    return Path(base) / "countermap" / "countermap.db"


def database_url(explicit: str | None = None) -> str:
    """``--db`` beats ``DATABASE_URL`` beats the default SQLite file."""
    url = explicit or os.environ.get("DATABASE_URL")
    if url:
        # Heroku-style URLs name the driver-less scheme; we ship psycopg 3.
        if url.startswith("postgres://"):
            url = "postgresql+psycopg://" + url[len("postgres://") :]
        elif url.startswith("postgresql://"):
            url = "postgresql+psycopg://" + url[len("postgresql://") :]
        return url
    path = default_sqlite_path()
    path.parent.mkdir(parents=True, exist_ok=True)
    return f"sqlite:///{path}"


def _sqlite_pragmas(dbapi_conn: Any, _record: Any) -> None:
    # Hand transaction control to SQLAlchemy (the pysqlite driver's own is broken for DDL
    # and SAVEPOINT), so that BEGIN is issued by the "begin" hook below.
    dbapi_conn.isolation_level = None
    cur = dbapi_conn.cursor()
    cur.execute("PRAGMA journal_mode=WAL")
    cur.execute("PRAGMA busy_timeout=30000")
    cur.execute("PRAGMA foreign_keys=ON")
    cur.execute("PRAGMA synchronous=NORMAL")
    cur.close()


class DatabaseMissing(Exception):
    """A SQLite file that is not there, where it must not be created."""

    def __init__(self, path: Path) -> None:
        super().__init__(f"no database at {path}")
        self.path = path


def _open_existing(path: Path, _dialect: Any, _rec: Any, cargs: list[Any], cparams: dict[str, Any]) -> None:
    """Every connection opens the file read-write *without* create (``mode=rw``): a serving
    process whose database file was deleted under it gets "unable to open database file" and
    reports not ready, rather than answering from an empty database it made itself."""
    cargs[:1] = [f"file:{quote(str(path.resolve()))}?mode=rw"]
    cparams["uri"] = True


# Engines made with create=False on a SQLite file: the file and its inode when the engine was made.
_served_files: weakref.WeakKeyDictionary[Engine, tuple[Path, int]] = weakref.WeakKeyDictionary()


def served_file_problem(engine: Engine) -> str | None:
    """For a serving engine on a SQLite file: why its file is no longer the one it opened
    (deleted, replaced), else None.  Pooled connections keep answering from a deleted file's
    inode, so a round trip alone does not show it."""
    served = _served_files.get(engine)
    if served is None:
        return None
    path, inode = served
    try:
        now = path.stat().st_ino
    except OSError:
        return f"the database file {path} is gone"
    return None if now == inode else f"the database file {path} was replaced: restart to serve the new one"


def make_engine(url: str | None = None, *, create: bool = True, **kwargs: Any) -> Engine:
    """The engine for ``url``.  ``create=False`` (serving processes): a SQLite file must exist
    already (``DatabaseMissing``) and no connection ever creates it."""
    url = database_url(url)
    if url.startswith("sqlite"):
        path = sqlite_file(url)
        if path is not None and path.name.startswith("file:"):
            path = None  # a URI form: the caller chose its own open mode
        if path is not None and not create and not path.is_file():
            raise DatabaseMissing(path)
        if path is not None and create:
            try:
                path.parent.mkdir(parents=True, exist_ok=True)
            except OSError as exc:
                raise DatabaseUnavailable(
                    url, f"cannot create {path.parent}: {exc.strerror or exc}"
                ) from None
        engine = create_engine(url, connect_args={"timeout": 30, "check_same_thread": False}, **kwargs)
        if path is not None and not create:
            event.listen(engine, "do_connect", partial(_open_existing, path))
            _served_files[engine] = (path, path.stat().st_ino)
        event.listen(engine, "connect", _sqlite_pragmas)
        event.listen(engine, "begin", _sqlite_begin)
        return engine
    kwargs.setdefault("pool_pre_ping", True)
    return create_engine(url, **kwargs)


def _sqlite_begin(conn: Connection) -> None:
    """Writers ask for ``BEGIN IMMEDIATE`` (execution option ``sqlite_immediate``): a deferred
    transaction that reads and then writes can fail at once with "database is locked" when
    another process writes, whereas an immediate one waits out the busy timeout."""
    immediate = conn.get_execution_options().get("sqlite_immediate", False)
    conn.exec_driver_sql("BEGIN IMMEDIATE" if immediate else "BEGIN")


@contextmanager
def write_connection(engine: Engine) -> Iterator[Connection]:
    """A connection in one write transaction: all or nothing, on SQLite taken up front."""
    with engine.connect().execution_options(sqlite_immediate=True) as conn, conn.begin():
        yield conn


def session_factory(engine: Engine) -> sessionmaker[Session]:
    return sessionmaker(engine, expire_on_commit=False)


@contextmanager
def session_scope(engine: Engine) -> Iterator[Session]:
    """One unit of work: commit on success, roll back on any error."""
    with session_factory(engine)() as session, session.begin():
        yield session


@contextmanager
def write_session(engine: Engine) -> Iterator[Session]:
    """A session whose transaction takes the SQLite write lock up front (see ``_sqlite_begin``)."""
    with write_connection(engine) as conn, Session(bind=conn, expire_on_commit=False) as session:
        yield session
        session.flush()


def configure_models() -> None:
    """Configure the ORM's mappers now, as the first query would (inside a user's request)."""
    configure_mappers()


def open_pooled_connections(engine: Engine, count: int) -> None:
    """Open ``count`` of the pool's connections at once, in parallel, and leave them open in it."""
    with ThreadPoolExecutor(max_workers=count) as pool:
        connections = list(pool.map(lambda _: engine.connect(), range(count)))
    for conn in connections:
        conn.close()  # back to the pool, open
