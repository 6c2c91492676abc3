"""The fast read path: Core statements compiled once per dialect and run on the driver's cursor.

Each view is a handful of indexed selects on the denormalised ``mappings`` columns, never one
query per row.  Releases and tactics are tiny and read whole."""

from __future__ import annotations

from collections import namedtuple
from collections.abc import Iterator
from contextlib import contextmanager
from typing import Any
from weakref import WeakKeyDictionary

import orjson
from sqlalchemy import Dialect, Engine, Text, cast
from sqlalchemy.exc import DBAPIError
from sqlalchemy.orm import Session

# --------------------------------------------------------------------------- reading


class _Prepared:
    """A Core statement compiled once for one dialect: its SQL, how to bind its parameters and
    how to shape its rows.

    A statement with expanding ``IN`` parameters has one SQL text per list length; SQLAlchemy
    renders it (``construct_expanded_state``, its public API for this) once per combination of
    lengths, with a marker object for every value, and the markers' places say which value goes
    where: later executions only look the values up."""

    __slots__ = (
        "compiled", "defaults", "expanded", "expanding", "json", "names", "qmark", "row", "sql", "stmt"
    )  # fmt: skip

    def __init__(self, stmt: Any, dialect: Dialect) -> None:
        self.stmt = stmt  # kept alive: the cache is keyed by id()
        self.compiled = stmt.compile(dialect=dialect)
        self.sql: str = self.compiled.string
        self.qmark = dialect.paramstyle == "qmark"
        self.names: list[str] = list(self.compiled.positiontup or ()) if self.qmark else []
        self.expanding = tuple(name for name, b in self.compiled.binds.items() if b.expanding)
        self.expanded: dict[tuple[int, ...], tuple[str, tuple[tuple[str, int | None], ...]]] = {}
        # Values written into the statement (``status != "non_mappable"``), under their bind names.
        self.defaults = {name: b.effective_value for name, b in self.compiled.binds.items() if not b.required}
        keys = [str(c.key) if c.key else f"c{i}" for i, c in enumerate(stmt.selected_columns)]
        # JSON columns are selected as text (``_json``) and decoded here with orjson, the same on
        # both backends and far cheaper than the drivers' json.loads.
        self.json = tuple(i for i, k in enumerate(keys) if k.endswith(JSON_SUFFIX))
        fields = [k.removesuffix(JSON_SUFFIX) for k in keys]
        self.row: Any = namedtuple("Row", fields, rename=True)  # type: ignore[misc]

    def _expansion(self, params: dict[str, Any]) -> tuple[str, tuple[tuple[str, int | None], ...]]:
        """The SQL for these list lengths, and for each placeholder in order the (parameter,
        index in its list) it takes (index None: a plain value)."""
        lengths = tuple(len(params[name]) for name in self.expanding)
        found = self.expanded.get(lengths)
        if found is None:
            markers: dict[int, tuple[str, int | None]] = {}
            probe: dict[str, Any] = {}
            for name, value in params.items():
                if name in self.expanding:
                    probe[name] = [object() for _ in value]
                    markers.update((id(m), (name, i)) for i, m in enumerate(probe[name]))
                else:
                    probe[name] = object()
                    markers[id(probe[name])] = (name, None)
            state = self.compiled.construct_expanded_state(probe)
            placed = state.positional_parameters if self.qmark else tuple(state.parameters.values())
            slots = tuple(markers[id(v)] for v in placed)
            if not self.qmark:  # psycopg: the expanded names, in the same order as the values
                slots = tuple(zip(state.parameters, slots, strict=True))  # type: ignore[arg-type]
            found = self.expanded[lengths] = (state.statement, slots)
        return found

    def bind(self, given: dict[str, Any]) -> tuple[str, Any]:
        params = {**self.defaults, **given} if self.defaults else given
        if not self.expanding:
            if self.qmark:
                return self.sql, tuple(params[n] for n in self.names)
            return self.sql, params  # psycopg: named parameters
        sql, slots = self._expansion(params)
        if self.qmark:
            return sql, tuple(params[n] if i is None else params[n][i] for n, i in slots)
        return sql, {key: params[n] if i is None else params[n][i] for key, (n, i) in slots}  # type: ignore[misc]


JSON_SUFFIX = "__json"
_PREPARED: dict[tuple[int, str], _Prepared] = {}


def _json(column: Any) -> Any:
    """A JSON column read as its text, decoded when the row is built."""
    return cast(column, Text).label(column.key + JSON_SUFFIX)


class Reader:
    """The read side of one view: a DB-API cursor inside an open transaction.

    Statements are SQLAlchemy Core, compiled once per dialect, run on the driver's cursor:
    SQLAlchemy's per-execution machinery (result objects, row processors) costs about twenty
    times an indexed SQLite select, and an answer runs several.  Rows are named tuples of
    the driver's values; the few typed columns read here are made backend-neutral (JSON as
    text, booleans through ``bool()``, dates through ``_iso``)."""

    def __init__(self, cursor: Any, dialect: Dialect) -> None:
        self.cursor = cursor
        self.dialect = dialect

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
def reading(engine: Engine) -> Iterator[Reader]:
    """A Reader on a pooled connection in one read transaction (one snapshot for all of a
    view's statements), rolled back when the pool takes the connection back."""
    raw = engine.raw_connection()
    try:
        cursor = raw.cursor()
        if engine.dialect.name == "sqlite":
            cursor.execute("BEGIN")  # store.db hands SQLite transactions to us
        yield Reader(cursor, engine.dialect)
    finally:
        raw.close()


Source = Session | Reader


# A session's Reader, for its current transaction: one cursor, and one read of the static facts.
_SESSION_READERS: WeakKeyDictionary[Session, tuple[object, Reader]] = WeakKeyDictionary()


def reader(source: Source) -> Reader:
    """The Reader of a Session (on its transaction's connection; the same one until the
    session's transaction ends), or itself."""
    if isinstance(source, Reader):
        return source
    kept = _SESSION_READERS.get(source)
    if kept is not None and kept[0] is source.get_transaction():
        return kept[1]
    conn = source.connection()
    made = Reader(conn.connection.dbapi_connection.cursor(), conn.dialect)  # type: ignore[union-attr]
    _SESSION_READERS[source] = (source.get_transaction(), made)
    return made


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
