"""Ingest benchmark: full load of the corpus into a fresh SQLite file, a no-change re-ingest,
peak memory, and a bare ``sqlite3.executemany`` of the same mapping rows as the yardstick.

Each measurement runs in its own process (peak RSS is per process).  The machine is shared,
so the reference is measured in the same run and the ratio is what to compare.

    .venv/bin/python bench/ingest.py [CORPUS] [--repeat N] [--postgresql ADMIN_URL]

``--postgresql postgresql://postgres@127.0.0.1:5432/test`` also times full ingest and re-ingest
on PostgreSQL, each run into a database of its own, created and dropped through that URL.

Targets (issues 2 and 13): full ingest <= 5 s, re-ingest <= 0.5 s, peak RSS <= 400 MB, full
ingest <= 2x the bare executemany reference (mapping rows and ATT&CK objects and links).
"""

from __future__ import annotations

import argparse
import json
import os
import re
import resource
import sqlite3
import statistics
import subprocess
import sys
import tempfile
import time
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT))


def _peak_mb() -> float:
    """Largest resident set of this process or any worker it forked."""
    own = resource.getrusage(resource.RUSAGE_SELF).ru_maxrss
    workers = resource.getrusage(resource.RUSAGE_CHILDREN).ru_maxrss
    return max(own, workers) / 1024


def child_ingest(db: str, corpus: str) -> dict[str, float]:
    from store.db import make_engine
    from store.ingest import ingest_paths

    engine = make_engine(db if "://" in db else f"sqlite:///{db}")
    started = time.perf_counter()
    report = ingest_paths(engine, [corpus])
    wall = time.perf_counter() - started
    engine.dispose()
    return {"wall": wall, "peak_mb": _peak_mb(), "rows": report.mappings_inserted}


def _attack_rows(corpus: str) -> dict[str, list[dict[str, object]]]:
    """Every ATT&CK row ingest writes (techniques, mitigations, groups, software, campaigns,
    their links, detection objects), parsed beforehand, with primary keys given here."""
    import orjson

    from store.ingest.stix import parse_stix_bundle

    tables: dict[str, list[dict[str, object]]] = {}
    ids: dict[tuple[str, str], int] = {}

    def add(table: str, rows: list[dict[str, object]]) -> None:
        out = tables.setdefault(table, [])
        for row in rows:
            row = dict(row)
            row["id"] = len(out) + 1
            if "stix_id" in row and table in ("techniques", "mitigations", "threats", "detection_strategies"):
                ids[(table, str(row["stix_id"]))] = row["id"]  # type: ignore[assignment]
            out.append(row)

    for path in sorted(Path(corpus, "attack").glob("*.json")):
        data = parse_stix_bundle(orjson.loads(path.read_bytes()), path.name)
        th = data.threats
        add("tactics", data.tactics)
        add("techniques", data.techniques)
        add("mitigations", data.mitigations)
        add("threats", th.threats)
        add("data_components", th.data_components)
        add("analytics", th.analytics)
        add("detection_strategies", th.strategies)
        add(
            "mitigation_links",
            [
                {
                    k: v
                    for k, v in dict(
                        link,
                        mitigation_pk=ids[("mitigations", link["mitigation_stix_id"])],
                        technique_pk=ids[("techniques", link["technique_stix_id"])],
                    ).items()
                    if not k.endswith("_stix_id")
                }
                for link in data.links
            ],
        )
        add(
            "threat_links",
            [
                {
                    k: v
                    for k, v in dict(
                        link,
                        source_pk=ids[("threats", link["source_stix_id"])],
                        technique_pk=ids.get(("techniques", link["target_stix_id"])),
                        target_threat_pk=ids.get(("threats", link["target_stix_id"])),
                    ).items()
                    if not k.endswith("_stix_id")
                }
                for link in th.links
            ],
        )
        add(
            "detection_links",
            [
                {
                    k: v
                    for k, v in dict(
                        d,
                        strategy_pk=ids[("detection_strategies", d["strategy_stix_id"])],
                        technique_pk=ids[("techniques", d["technique_stix_id"])],
                    ).items()
                    if not k.endswith("_stix_id")
                }
                for d in th.detects
            ],
        )
    return tables


def child_reference(db: str, corpus: str) -> dict[str, float]:
    """The same mapping rows and ATT&CK objects and links, parsed beforehand, into the same
    tables (same indexes) with a plain sqlite3 connection and one executemany per table: the
    floor any loader can reach."""
    import orjson
    from sqlalchemy.dialects import sqlite as sqlite_dialect
    from sqlalchemy.schema import CreateIndex, CreateTable

    from store.models import Mapping

    table = Mapping.__table__
    ddl = re.sub(
        r",\s*FOREIGN KEY[^\n]*", "", str(CreateTable(table).compile(dialect=sqlite_dialect.dialect()))
    )
    indexes = [str(CreateIndex(i).compile(dialect=sqlite_dialect.dialect())) for i in table.indexes]
    columns = [c.name for c in table.columns if c.name != "id"]
    rows = []
    for path in sorted(Path(corpus, "mappings").rglob("*.json")):
        doc = orjson.loads(path.read_bytes())
        fw = doc["metadata"]["mapping_framework"]
        for i, o in enumerate(doc["mapping_objects"]):
            refs = o.get("references")
            rows.append(
                (
                    1,
                    i,
                    fw,
                    None,
                    o.get("capability_id"),
                    o.get("capability_id"),
                    o.get("capability_description"),
                    o.get("capability_group"),
                    o.get("attack_object_id"),
                    o.get("attack_object_id"),
                    o.get("attack_object_name"),
                    o.get("mapping_type"),
                    o.get("score_category"),
                    o.get("score_value"),
                    o.get("related_score"),
                    o.get("comments"),
                    None if refs is None else orjson.dumps(refs).decode(),
                    o.get("status"),
                    None,
                    None,
                )
            )
    from store.models import Base

    attack: list[tuple[str, list[tuple[object, ...]]]] = []
    for name, dicts in _attack_rows(corpus).items():
        t = Base.metadata.tables[name]
        cols = [c.name for c in t.columns]
        json_cols = {c.name for c in t.columns if c.type.__class__.__name__ == "JSON"}
        values = [
            tuple(
                orjson.dumps(d.get(c)).decode() if c in json_cols else _plain(d.get(c, _default(t, c)))
                for c in cols
            )
            for d in dicts
        ]
        quoted_cols = ", ".join(f'"{c}"' for c in cols)
        attack.append((f"INSERT INTO {name} ({quoted_cols}) VALUES ({', '.join('?' for _ in cols)})", values))
        ddl_t = re.sub(
            r",\s*FOREIGN KEY[^\n]*", "", str(CreateTable(t).compile(dialect=sqlite_dialect.dialect()))
        )
        indexes.append(ddl_t)
        indexes.extend(str(CreateIndex(i).compile(dialect=sqlite_dialect.dialect())) for i in t.indexes)
    conn = sqlite3.connect(db)
    conn.execute("PRAGMA journal_mode=WAL")
    conn.execute("PRAGMA synchronous=NORMAL")
    conn.execute(ddl)
    for index in indexes:
        conn.execute(index)
    conn.commit()
    quoted = ", ".join(f'"{c}"' for c in columns)
    sql = f"INSERT INTO mappings ({quoted}) VALUES ({', '.join('?' for _ in columns)})"
    started = time.perf_counter()
    conn.executemany(sql, rows)
    for statement, values in attack:
        conn.executemany(statement, values)
    conn.commit()
    wall = time.perf_counter() - started
    conn.close()
    return {"wall": wall, "peak_mb": _peak_mb(), "rows": len(rows)}


def _plain(value: object) -> object:
    return value.isoformat() if hasattr(value, "isoformat") else value


def _default(table: object, column: str) -> object:
    default = table.columns[column].default  # type: ignore[attr-defined]
    if default is None or callable(getattr(default, "arg", None)):
        return None
    return default.arg


def _run(kind: str, db: str, corpus: str) -> dict[str, float]:
    out = subprocess.run(
        [sys.executable, __file__, "--child", kind, db, corpus],
        capture_output=True,
        text=True,
        check=True,
        cwd=ROOT,
    )
    return json.loads(out.stdout.strip().splitlines()[-1])


def _postgresql_runs(admin_url: str, corpus: str, repeat: int) -> tuple[list[float], list[float]]:
    """Full and no-change ingest into a fresh database per run, dropped afterwards."""
    import uuid

    import psycopg

    base = admin_url.replace("postgresql+psycopg://", "postgresql://")
    full, again = [], []
    with psycopg.connect(base, autocommit=True) as admin:
        for _ in range(repeat):
            name = f"bench_ingest_{uuid.uuid4().hex[:10]}"
            admin.execute(f'CREATE DATABASE "{name}"')
            try:
                url = "postgresql+psycopg://" + base.split("://", 1)[1].rsplit("/", 1)[0] + "/" + name
                full.append(_run("ingest", url, corpus)["wall"])
                again.append(_run("ingest", url, corpus)["wall"])
            finally:
                admin.execute(f'DROP DATABASE "{name}" WITH (FORCE)')
    return full, again


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument(
        "corpus", nargs="?", default=os.environ.get("COUNTERMAP_CORPUS", str(ROOT.parent.parent / "shared"))
    )
    parser.add_argument("--repeat", type=int, default=3, help="runs of each measurement (median reported)")
    parser.add_argument("--postgresql", metavar="ADMIN_URL", help="also time ingest on PostgreSQL")
    parser.add_argument("--child", nargs=3, metavar=("KIND", "DB", "CORPUS"), help=argparse.SUPPRESS)
    args = parser.parse_args()
    if args.child:
        kind, db, corpus = args.child
        result = child_ingest(db, corpus) if kind == "ingest" else child_reference(db, corpus)
        print(json.dumps(result))
        return 0

    full, again, ref, peaks = [], [], [], []
    rows = 0
    for _ in range(args.repeat):
        with tempfile.TemporaryDirectory() as tmp:
            db = os.path.join(tmp, "bench.db")
            r = _run("reference", os.path.join(tmp, "ref.db"), args.corpus)
            ref.append(r["wall"])
            f = _run("ingest", db, args.corpus)
            full.append(f["wall"])
            peaks.append(f["peak_mb"])
            rows = int(f["rows"])
            a = _run("ingest", db, args.corpus)
            again.append(a["wall"])
            peaks.append(a["peak_mb"])
    med = statistics.median
    ratio = med(full) / med(ref)
    print(f"corpus: {args.corpus} ({rows:,} mapping rows), {args.repeat} run(s), median wall times")
    print(f"  bare sqlite3.executemany reference   {med(ref):6.2f} s   (mapping rows + ATT&CK objects/links)")
    print(
        f"  full ingest, fresh SQLite file       {med(full):6.2f} s   target <= 5 s"
        f"     ratio {ratio:.1f}x (<= 2x)"
    )
    print(f"  no-change re-ingest                  {med(again):6.2f} s   target <= 0.5 s")
    print(f"  peak RSS (ingest or parse worker)    {max(peaks):6.0f} MB  target <= 400 MB")
    print(
        f"  all runs: full {[round(x, 2) for x in full]}, re-ingest {[round(x, 2) for x in again]}, "
        f"reference {[round(x, 2) for x in ref]}"
    )
    if args.postgresql:
        pg_full, pg_again = _postgresql_runs(args.postgresql, args.corpus, args.repeat)
        print(f"  PostgreSQL full ingest               {med(pg_full):6.2f} s   (the ratio is SQLite's)")
        print(f"  PostgreSQL no-change re-ingest       {med(pg_again):6.2f} s")
        runs = f"full {[round(x, 2) for x in pg_full]}, re-ingest {[round(x, 2) for x in pg_again]}"
        print(f"  PostgreSQL runs: {runs}")
    try:
        load = os.getloadavg()[0]
        print(f"  load average at the end: {load:.1f} on {os.cpu_count()} CPUs")
    except OSError:
        pass
    return 0


if __name__ == "__main__":
    sys.exit(main())
