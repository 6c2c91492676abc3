"""The fast read path: Core statements compiled once per dialect and run on the driver's cursor.

Each view is a handful of indexed selects on the denormalised ``mappings`` columns, never one
query per row.  Releases and tactics are tiny and read whole."""

from __future__ import annotations

from collections import namedtuple
from collections.abc import Iterator
from contextlib import contextmanager
from typing import Any

import orjson
from sqlalchemy import Dialect, Engine, Text, cast
from sqlalchemy.exc import DBAPIError
from sqlalchemy.orm import Session

# --------------------------------------------------------------------------- reading


class _Prepared:
    """A Core statement compiled once for one dialect: its SQL, how to bind its parameters and
    how to shape its rows."""

    __slots__ = ("compiled", "defaults", "expanding", "json", "names", "qmark", "row", "sql", "stmt")

    def __init__(self, stmt: Any, dialect: Dialect) -> None:
        self.stmt = stmt  # kept alive: the cache is keyed by id()
        self.compiled = stmt.compile(dialect=dialect)
        self.sql: str = self.compiled.string
        self.qmark = dialect.paramstyle == "qmark"
        self.names: list[str] = list(self.compiled.positiontup or ()) if self.qmark else []
        self.expanding = "__[POSTCOMPILE_" in self.sql
        # Values written into the statement (``status != "non_mappable"``), under their bind names.
        self.defaults = {name: b.effective_value for name, b in self.compiled.binds.items() if not b.required}
        keys = [str(c.key) if c.key else f"c{i}" for i, c in enumerate(stmt.selected_columns)]
        # JSON columns are selected as text (``_json``) and decoded here with orjson, the same on
        # both backends and far cheaper than the drivers' json.loads.
        self.json = tuple(i for i, k in enumerate(keys) if k.endswith(JSON_SUFFIX))
        fields = [k.removesuffix(JSON_SUFFIX) for k in keys]
        self.row: Any = namedtuple("Row", fields, rename=True)  # type: ignore[misc]

    def bind(self, given: dict[str, Any]) -> tuple[str, Any]:
        params = {**self.defaults, **given} if self.defaults else given
        if not self.qmark:  # psycopg: named parameters
            if not self.expanding:
                return self.sql, params
            state = self.compiled.construct_expanded_state(params)
            return state.statement, state.parameters
        if not self.expanding:
            return self.sql, tuple(params[n] for n in self.names)
        sql, args = self.sql, []
        for name in self.names:
            value = params[name]
            token = f"__[POSTCOMPILE_{name}]"
            if token in sql:
                if not value:  # SQLAlchemy's empty-set form, rare: let it render
                    state = self.compiled.construct_expanded_state(params)
                    return state.statement, state.positional_parameters
                sql = sql.replace(token, ", ".join("?" * len(value)), 1)
                args.extend(value)
            else:
                args.append(value)
        return sql, tuple(args)


JSON_SUFFIX = "__json"
_PREPARED: dict[tuple[int, str], _Prepared] = {}


def _json(column: Any) -> Any:
    """A JSON column read as its text, decoded when the row is built."""
    return cast(column, Text).label(column.key + JSON_SUFFIX)


class Reader:
    """The read side of one view: a DB-API cursor inside an open transaction, and ``info`` (as
    on a Session: releases and tactics of the data version, seeded by the caller).

    Statements are SQLAlchemy Core, compiled once per dialect, run on the driver's cursor:
    SQLAlchemy's per-execution machinery (result objects, row processors) costs about twenty
    times an indexed SQLite select, and an answer runs several.  Rows are named tuples of
    the driver's values; the few typed columns read here are made backend-neutral (JSON as
    text, booleans through ``bool()``, dates through ``_iso``)."""

    def __init__(self, cursor: Any, dialect: Dialect, info: dict[str, Any] | None = None) -> None:
        self.cursor = cursor
        self.dialect = dialect
        self.info: dict[str, Any] = {} if info is None else info

    def rows(self, stmt: Any, params: dict[str, Any] | None = None) -> list[Any]:
        key = (id(stmt), self.dialect.name)
        prep = _PREPARED.get(key)
        if prep is None or prep.stmt is not stmt:
            if len(_PREPARED) > 1000:  # only module-level statements belong here
                _PREPARED.clear()
            prep = _PREPARED[key] = _Prepared(stmt, self.dialect)
        sql, args = prep.bind(params or {})
        dbapi = self.dialect.loaded_dbapi
        try:
            self.cursor.execute(sql, args)
            fetched = self.cursor.fetchall()
        except dbapi.Error as exc:  # the exceptions callers know (OperationalError, ...)
            raise DBAPIError.instance(sql, args, exc, dbapi.Error) from exc
        make = prep.row._make
        if not prep.json:
            return [make(r) for r in fetched]
        out = []
        for r in fetched:
            values = list(r)
            for i in prep.json:
                raw = values[i]
                values[i] = orjson.loads(raw) if raw is not None else None
            out.append(make(values))
        return out


@contextmanager
def reading(engine: Engine, info: dict[str, Any] | None = None) -> Iterator[Reader]:
    """A Reader on a pooled connection in one read transaction (one snapshot for all of a
    view's statements), rolled back when the pool takes the connection back."""
    raw = engine.raw_connection()
    try:
        cursor = raw.cursor()
        if engine.dialect.name == "sqlite":
            cursor.execute("BEGIN")  # store.db hands SQLite transactions to us
        yield Reader(cursor, engine.dialect, info)
    finally:
        raw.close()


Source = Session | Reader


def reader(source: Source) -> Reader:
    """The Reader of a Session (its transaction's connection and its ``info``), or itself."""
    if isinstance(source, Reader):
        return source
    conn = source.connection()
    return Reader(conn.connection.dbapi_connection.cursor(), conn.dialect, source.info)  # type: ignore[union-attr]


def _scalars(session: Source, stmt: Any, params: dict[str, Any] | None = None) -> list[Any]:
    return [r[0] for r in reader(session).rows(stmt, params)]


def _q(session: Source, stmt: Any, params: dict[str, Any] | None = None) -> list[Any]:
    """Rows of a module-level column select (bound parameters only; see ``Reader``)."""
    return reader(session).rows(stmt, params)


def _iso(value: Any) -> str | None:
    """A date column as ISO text: SQLite returns the text, psycopg a date."""
    if not value:
        return None
    return value if isinstance(value, str) else str(value.isoformat())
