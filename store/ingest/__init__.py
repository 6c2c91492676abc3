"""``ingest_paths``: load Mappings Explorer files, ATT&CK bundles and description lists.

A run reads and checks every file first and writes nothing until all are good; the writes then
happen in one transaction (on SQLite ``BEGIN IMMEDIATE``), so a run either loads everything or
leaves the database exactly as it was.  Files already loaded are recognised by sha256 and not
parsed again, which makes a re-run on unchanged data cost little more than hashing it.
"""

from __future__ import annotations

import gc
import os
import sys
import time
from collections.abc import Iterable, Iterator, Mapping
from contextlib import contextmanager
from pathlib import Path
from typing import Any

from rich.console import Console
from rich.progress import BarColumn, MofNCompleteColumn, Progress, TextColumn, TimeElapsedColumn
from sqlalchemy import Engine, insert, select, text

from store.app_state import SyncRun
from store.db import write_connection
from store.ingest.descriptions import attribute_descriptions
from store.ingest.errors import FileProblem, FileResult, IngestError, IngestReport, Problem
from store.ingest.files import discover
from store.ingest.loader import (
    LoadedFile,
    find_release,
    group_by_framework,
    remember_files,
    write_attack,
    write_capabilities,
    write_descriptions,
    write_mappings,
    write_release,
)
from store.ingest.mapping_files import CAPABILITY_ID, ReleaseData
from store.ingest.reading import Parsed, read_all
from store.migrate import upgrade
from store.models import Base, Capability, IngestedFile, utcnow

__all__ = ["FileResult", "IngestError", "IngestReport", "Problem", "ingest_paths"]


def ingest_paths(
    engine: Engine,
    paths: Iterable[str | os.PathLike[str]],
    *,
    progress: bool = False,
    kind: str = "ingest",
    labels: Mapping[str, str] | None = None,
) -> IngestReport:
    """Load every data file under ``paths`` (files or folders, searched recursively).

    Raises ``IngestError`` listing each bad file, with the database unchanged.  ``progress``
    shows a bar on stderr (callers pass ``sys.stderr.isatty()``).  ``kind`` is what the
    ``sync_runs`` row says when data changed ("ingest" or "sync").  ``labels`` maps a file's
    resolved path to the name to record and report instead (sync passes the URLs).
    """

    started = time.perf_counter()
    upgrade(engine)
    report = IngestReport()
    candidates, problems, skipped = discover(paths)
    report.files.extend(FileResult(s.path, "skipped", s.reason, "skipped") for s in skipped)
    with engine.connect() as conn:
        known = set(conn.execute(select(IngestedFile.sha256)).scalars())

    names = {str(Path(k).resolve()): v for k, v in (labels or {}).items()}
    work = [(cand, names.get(str(cand.path.resolve()), str(cand.path))) for cand in candidates]
    parsed: list[Parsed] = []
    with progress_bar(progress, len(candidates) + 1) as advance, _collector_paused():
        for (_, name), outcome in zip(work, read_all(work, frozenset(known), advance), strict=True):
            if outcome.status == "parsed" and outcome.parsed is not None:
                parsed.append(outcome.parsed)
            elif outcome.status == "problem":
                problems.append(Problem(name, outcome.place, outcome.reason))
            elif outcome.status == "skipped":
                report.files.append(FileResult(name, "skipped", outcome.reason, "skipped"))
            else:
                report.files.append(FileResult(name, "unchanged", "", "unchanged"))

        if any(p.kind == "descriptions" for p in parsed):
            _attribute(engine, parsed, problems)
        chosen = _pick_one_per_key(parsed, problems, report)
        if problems:
            raise IngestError(problems)
        advance("writing to the database", step=0)
        _write(engine, chosen, report, kind)
        advance("done")
    report.seconds = time.perf_counter() - started
    return report


def _attribute(engine: Engine, parsed: list[Parsed], problems: list[Problem]) -> None:
    """Decide which framework each description list belongs to (see ``descriptions``)."""

    known: dict[str, set[str]] = {}

    def known_ids() -> dict[str, set[str]]:
        if not known:
            with engine.connect() as conn:
                for fw, cid in conn.execute(select(Capability.framework, Capability.capability_id)):
                    known.setdefault(fw, set()).add(cid)
            for p in parsed:
                if p.kind == "mapping":
                    ids = {row[CAPABILITY_ID] for row in p.data.rows if row[CAPABILITY_ID]}
                    known.setdefault(p.data.key[0], set()).update(ids)
        return known

    for p in parsed:
        if p.kind != "descriptions":
            continue
        try:
            attribute_descriptions(p.data, Path(p.path).name, known_ids)
        except FileProblem as exc:
            problems.append(Problem(p.path, exc.place, exc.reason))
            continue
        p.key = p.data.source


def _pick_one_per_key(parsed: list[Parsed], problems: list[Problem], report: IngestReport) -> list[Parsed]:
    """One file per release / domain / description source; identical copies are duplicates."""
    chosen: dict[tuple[str, str], Parsed] = {}
    duplicates: dict[tuple[str, str], list[Parsed]] = {}
    for p in parsed:
        if p.kind == "descriptions" and p.data.framework is None:
            continue
        slot = (p.kind, p.key)
        first = chosen.get(slot)
        if first is None:
            chosen[slot] = p
        elif first.content == p.content:
            duplicates.setdefault(slot, []).append(p)
        else:
            problems.append(
                Problem(
                    p.path, "", f"holds other content for {p.key} than {first.path}; give only one of them"
                )
            )
    for slot, dups in duplicates.items():
        chosen[slot].duplicates = dups
    return list(chosen.values())


def _write(engine: Engine, chosen: list[Parsed], report: IngestReport, kind: str) -> None:
    started_at = utcnow()
    with write_connection(engine) as conn:
        if conn.dialect.name == "sqlite":
            # Four indexes on mappings: a larger page cache keeps their inserts off the disk.
            conn.exec_driver_sql("PRAGMA cache_size=-32768")
        else:
            # One writer at a time (SQLite's BEGIN IMMEDIATE does this there): two runs loading
            # the same new release would otherwise both insert it.
            conn.execute(text("SELECT pg_advisory_xact_lock(:key)"), {"key": _INGEST_LOCK})
        for p in chosen:
            if p.kind == "attack":
                write_attack(conn, p.data, p.sha256, p.path)
                report.attack_domains_changed.append(p.key)
                if p.data.skipped:
                    report.attack_skipped[p.key] = dict(p.data.skipped)
                report.attack_warnings.extend(f"{p.key}: {w}" for w in p.data.warnings)
                _remember(conn, p, "loaded", report)
        touched: set[str] = set()
        for p in chosen:
            if p.kind == "descriptions":
                write_descriptions(conn, p.data, p.sha256)
                report.description_sources_changed.append(p.key)
                touched.add(p.data.framework)
                _remember(conn, p, "loaded", report)
        releases: list[tuple[int, ReleaseData]] = []
        for p in chosen:
            if p.kind != "mapping":
                continue
            data: ReleaseData = p.data
            existing = find_release(conn, data.key)
            if existing is not None and existing[1] == data.content_sha256:
                _remember(conn, p, "unchanged", report)  # same content in another file
                continue
            pk = write_release(conn, data, p.sha256, p.path)
            releases.append((pk, data))
            touched.add(data.key[0])
            report.releases_changed.append(p.key)
            _remember(conn, p, "replaced" if existing else "loaded", report, rows=len(data.rows))
        by_framework = group_by_framework(releases)
        pks = {
            framework: write_capabilities(conn, framework, by_framework.get(framework, []))
            for framework in touched
        }
        with _indexes_rebuilt_after(conn, sum(len(data.rows) for _, data in releases)):
            for pk, data in releases:
                report.mappings_inserted += write_mappings(conn, pk, data, pks[data.key[0]])
        if report.changed:
            conn.execute(
                insert(SyncRun),
                [
                    {
                        "kind": kind,
                        "started_at": started_at,
                        "finished_at": utcnow(),
                        "releases_changed": report.releases_changed,
                        "summary": {
                            "attack_domains": report.attack_domains_changed,
                            "description_sources": report.description_sources_changed,
                            "mappings_inserted": report.mappings_inserted,
                        },
                    }
                ],
            )


@contextmanager
def _collector_paused() -> Iterator[None]:
    """Parsing builds millions of objects that hold no cycles; the cyclic collector would walk
    them again and again while they pile up.  Paused for the run (forked parse workers inherit
    it), restored after."""
    paused = gc.isenabled()
    gc.disable()
    try:
        yield
    finally:
        if paused:
            gc.enable()


_BULK_ROWS = 10_000
_INGEST_LOCK = 0x636D6169  # "cmai": every countermap ingest/sync takes this lock to write


@contextmanager
def _indexes_rebuilt_after(conn: Any, rows: int) -> Iterator[None]:
    """On SQLite, a bulk load is faster into a bare table with the indexes built afterwards
    (one sort each instead of a B-tree insert per row).  DDL is transactional there and WAL
    readers keep their snapshot, so nobody sees the table without its indexes."""

    if conn.dialect.name != "sqlite" or rows < _BULK_ROWS:
        yield
        return
    indexes = sorted(Base.metadata.tables["mappings"].indexes, key=lambda i: str(i.name))
    for index in indexes:
        index.drop(conn)
    yield
    for index in indexes:
        index.create(conn)


def _remember(conn: Any, p: Parsed, action: str, report: IngestReport, rows: int = 0) -> None:
    files = [p, *p.duplicates]
    remember_files(
        conn,
        p.kind,
        p.key,
        p.content,
        [LoadedFile(f.sha256, p.kind, p.key, p.content, f.path) for f in files],
    )
    report.files.append(FileResult(p.path, p.kind, p.key, action, rows))
    for dup in files[1:]:
        report.files.append(FileResult(dup.path, dup.kind, dup.key, "duplicate"))


@contextmanager
def progress_bar(enabled: bool, total: int, label: str = "ingest") -> Iterator[Any]:
    """A rich progress bar on stderr (only when ``enabled``); yields ``advance(name, step=1)``."""
    if not enabled or total == 0:
        yield lambda _name, step=1: None
        return

    with Progress(
        TextColumn(f"[bold]{label}"),
        BarColumn(),
        MofNCompleteColumn(),
        TimeElapsedColumn(),
        TextColumn("{task.description}"),
        console=Console(file=sys.stderr),
        transient=True,
    ) as bar:
        task = bar.add_task("", total=total)

        def advance(name: str, step: int = 1) -> None:
            bar.update(task, advance=step, description=name[:50])

        yield advance
