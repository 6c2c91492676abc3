"""Bulk inserts through the driver, past SQLAlchemy's per-row parameter handling: COPY on
PostgreSQL, one ``executemany`` on SQLite, inside the caller's transaction.

Values are stored as SQLAlchemy would store them: JSON serialised (``None`` as JSON null, as
the ``JSON`` type does), dates and times through the dialect's own bind processor, and column
defaults filled in for keys a row leaves out.
"""

from __future__ import annotations

import operator
from collections.abc import Callable, Iterable, Mapping, Sequence
from typing import Any

import orjson
from sqlalchemy import JSON, Column, Connection, Date, DateTime, Dialect, Table

__all__ = ["insert_dicts", "insert_tuples"]


def insert_tuples(
    conn: Connection, table: str, columns: Sequence[str], rows: Iterable[Sequence[Any]]
) -> None:
    """Rows already in ``columns`` order, with every value as the driver takes it."""
    names = ", ".join(f'"{c}"' for c in columns)
    dbapi: Any = conn.connection.dbapi_connection
    assert dbapi is not None
    if conn.dialect.name == "postgresql":
        with dbapi.cursor() as cur, cur.copy(f"COPY {table} ({names}) FROM STDIN") as copy:
            for row in rows:
                copy.write_row(row)
        return
    marks = ", ".join("?" for _ in columns)
    cur = dbapi.cursor()
    try:
        cur.executemany(f"INSERT INTO {table} ({names}) VALUES ({marks})", rows)
    finally:
        cur.close()


def insert_dicts(conn: Connection, table: Table, rows: Sequence[Mapping[str, Any]]) -> None:
    """Rows as ``{column: value}``; the table's autoincrement key is left to the database."""
    if not rows:
        return
    columns, convert = _plan(table, conn.dialect)
    pick = _picker(columns)
    values = []
    for row in rows:
        try:
            picked = pick(row)
        except KeyError:
            picked = pick(_with_defaults(table, columns, row))
        values.append(convert(picked) if convert else picked)
    insert_tuples(conn, table.name, columns, values)


def _with_defaults(table: Table, columns: Sequence[str], row: Mapping[str, Any]) -> dict[str, Any]:
    full = dict(row)
    for name in columns:
        if name not in full:
            default = table.columns[name].default
            arg = getattr(default, "arg", None)
            full[name] = arg(None) if callable(arg) else arg
    return full


def _json(value: Any) -> str:
    return orjson.dumps(value).decode()  # None becomes JSON null, as the JSON type stores it


def _picker(columns: Sequence[str]) -> Callable[[Mapping[str, Any]], Sequence[Any]]:
    if len(columns) == 1:
        return lambda row: (row[columns[0]],)
    return operator.itemgetter(*columns)


_Plan = tuple[tuple[str, ...], Callable[[Sequence[Any]], list[Any]] | None]
_PLANS: dict[tuple[str, str], _Plan] = {}


def _plan(table: Table, dialect: Dialect) -> _Plan:
    """The columns to write, and what turns a picked row into driver values (None: nothing)."""
    key = (table.name, dialect.name)
    plan = _PLANS.get(key)
    if plan is None:
        plan = _PLANS[key] = _make_plan(table, dialect)
    return plan


def _make_plan(table: Table, dialect: Dialect) -> _Plan:
    auto = table.autoincrement_column
    columns: list[Column[Any]] = [c for c in table.columns if c is not auto]
    steps: list[tuple[int, Callable[[Any], Any]]] = []
    for i, column in enumerate(columns):
        if isinstance(column.type, JSON):
            steps.append((i, _json))
        elif isinstance(column.type, DateTime | Date):
            process = column.type._cached_bind_processor(dialect)
            if process is not None:
                steps.append((i, process))
    if not steps:
        return tuple(c.name for c in columns), None

    def convert(picked: Sequence[Any]) -> list[Any]:
        out = list(picked)
        for i, step in steps:
            out[i] = step(out[i])
        return out

    return tuple(c.name for c in columns), convert
