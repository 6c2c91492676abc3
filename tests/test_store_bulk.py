"""The driver's bulk path (COPY / executemany) stores ATT&CK rows exactly as SQLAlchemy's
``insert()`` stores them: JSON, booleans, timestamps, NULLs and column defaults."""

from __future__ import annotations

from pathlib import Path
from typing import Any

import orjson
from sqlalchemy import Engine, Table, delete, insert, select

from store.ingest.bulk import insert_dicts
from store.ingest.stix import parse_stix_bundle
from store.models import Base


def _ics(corpus_dir: Path) -> Any:
    path = sorted((corpus_dir / "attack").glob("ics-attack-*.json"))[-1]
    return parse_stix_bundle(orjson.loads(path.read_bytes()), path.name)


def _stored(engine: Engine, table: Table, write: Any, rows: list[dict[str, Any]]) -> list[tuple[Any, ...]]:
    columns = [c for c in table.columns if c is not table.autoincrement_column]
    with engine.begin() as conn:
        conn.execute(delete(table))
        write(conn, rows)
        return sorted(conn.execute(select(*columns)).all(), key=repr)


def test_bulk_rows_read_back_as_sqlalchemy_insert_writes_them(engine: Engine, corpus_dir: Path) -> None:
    data = _ics(corpus_dir)
    threats = [dict(t) for t in data.threats.threats]
    # A row that leaves out what has a default, and one with text fields empty (SQLAlchemy's
    # insert takes them one at a time: in one executemany all rows must have the same keys).
    del threats[0]["aliases"], threats[0]["platforms"], threats[0]["revoked"]
    threats[1].update(description=None, url=None, first_seen=None)
    for name, rows in (("techniques", data.techniques), ("threats", threats)):
        table = Base.metadata.tables[name]
        by_sqlalchemy = _stored(
            engine, table, lambda conn, r, t=table: [conn.execute(insert(t), x) for x in r], rows
        )
        by_driver = _stored(engine, table, lambda conn, r, t=table: insert_dicts(conn, t, r), rows)
        assert len(by_driver) == len(rows) > 0
        assert by_driver == by_sqlalchemy, name
