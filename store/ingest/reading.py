"""Reading and parsing the candidate files, on two cores when that pays.

Parsing is pure CPU (JSON decoding, schema validation, row building) and the files are
independent, so a large run is shared with a worker process forked from this one; the
database is not touched here.  Forking is only used when this process runs a single thread
(forking a threaded process can deadlock), and small runs stay in-process.
"""

from __future__ import annotations

import multiprocessing
import os
import threading
from collections.abc import Callable, Sequence
from concurrent.futures import ProcessPoolExecutor, as_completed
from concurrent.futures.process import BrokenProcessPool
from dataclasses import dataclass, field
from typing import Any

from store.ingest.descriptions import parse_description_list
from store.ingest.errors import FileProblem
from store.ingest.files import Candidate, classify, parse_document, read_candidate
from store.ingest.mapping_files import parse_mapping_document, release_key_text
from store.ingest.stix import parse_stix_bundle

__all__ = ["Outcome", "Parsed", "read_all", "read_one"]

PARALLEL_MIN_BYTES = 16 * 1024 * 1024  # below this, starting workers costs more than it saves


@dataclass
class Parsed:
    path: str  # as reported: the file's path, or the label given for it (sync: the URL)
    sha256: str
    kind: str  # mapping | attack | descriptions
    key: str  # release key text, ATT&CK domain, description source ("" until attributed)
    data: Any  # ReleaseData | AttackData | DescriptionData
    content: str | None  # content digest (mappings) or the file's sha256
    duplicates: list[Parsed] = field(default_factory=list)  # identical copies in this run


@dataclass(frozen=True)
class Outcome:
    """What became of one candidate: parsed, skipped, unchanged, or a problem."""

    status: str  # parsed | skipped | unchanged | problem
    parsed: Parsed | None = None
    place: str = ""
    reason: str = ""


def read_one(cand: Candidate, name: str, known: frozenset[str]) -> Outcome:
    try:
        raw = read_candidate(cand, known)
        if raw is None:
            return Outcome("skipped", reason="not a data file")
        if raw.known:
            return Outcome("unchanged")
        document = parse_document(raw)
        kind = classify(document)
        if kind == "mapping":
            data: Any = parse_mapping_document(document)
            return Outcome(
                "parsed",
                Parsed(name, raw.sha256, kind, release_key_text(data.key), data, data.content_sha256),
            )
        if kind == "attack":
            data = parse_stix_bundle(document, cand.path.name)
            return Outcome("parsed", Parsed(name, raw.sha256, kind, data.domain, data, raw.sha256))
        if kind == "descriptions":
            data = parse_description_list(document)
            return Outcome("parsed", Parsed(name, raw.sha256, kind, "", data, raw.sha256))
        if cand.explicit:
            raise FileProblem(
                "(top level)",
                "not a Mappings Explorer mapping file, ATT&CK STIX bundle or capability description list",
            )
        return Outcome("skipped", reason="JSON/YAML that is not ATT&CK mapping data")
    except FileProblem as exc:
        return Outcome("problem", place=exc.place, reason=exc.reason)
    except RecursionError:  # a structure nested deeper than the parsers' bounds somewhere inside
        return Outcome("problem", reason="nested too deeply to read")


def _size(cand: Candidate) -> int:
    try:
        return cand.path.stat().st_size
    except OSError:
        return 0


def _can_fork() -> bool:
    return "fork" in multiprocessing.get_all_start_methods() and threading.active_count() == 1


def read_all(
    work: Sequence[tuple[Candidate, str]], known: frozenset[str], advance: Callable[[str], None]
) -> list[Outcome]:
    """Outcomes in the order of ``work`` (so reports do not depend on scheduling).

    A large run is split in two halves by bytes: the largest files go to one forked worker,
    the rest is read here meanwhile (two cores busy, and only the worker's half is pickled
    back)."""
    sizes = [_size(c) for c, _ in work]
    if len(work) < 2 or sum(sizes) < PARALLEL_MIN_BYTES or not _can_fork() or (os.cpu_count() or 1) < 2:
        return _sequential(work, known, advance)
    outcomes: list[Outcome | None] = [None] * len(work)
    away, here = _split(sizes)
    try:
        with ProcessPoolExecutor(1, mp_context=multiprocessing.get_context("fork")) as pool:
            futures = {pool.submit(read_one, work[i][0], work[i][1], known): i for i in away}
            for i, outcome in zip(here, _sequential([work[i] for i in here], known, advance), strict=True):
                outcomes[i] = outcome
            for future in as_completed(futures):
                i = futures[future]
                outcomes[i] = future.result()
                advance(work[i][0].path.name)
    except (BrokenProcessPool, OSError):
        # The worker died (out of memory, killed): redo the rest here rather than fail the run.
        missing = [i for i, o in enumerate(outcomes) if o is None]
        redone = _sequential([work[i] for i in missing], known, advance)
        for i, outcome in zip(missing, redone, strict=True):
            outcomes[i] = outcome
    return [o for o in outcomes if o is not None]


def _split(sizes: Sequence[int]) -> tuple[list[int], list[int]]:
    """Indexes for the worker (largest first, up to half the bytes; at least one) and for
    this process (the rest, in their order)."""
    half = sum(sizes) / 2
    away: list[int] = []
    taken = 0
    for i in sorted(range(len(sizes)), key=lambda i: -sizes[i]):
        if away and taken + sizes[i] > half:
            continue
        away.append(i)
        taken += sizes[i]
    chosen = set(away)
    return away, [i for i in range(len(sizes)) if i not in chosen]


def _sequential(
    work: Sequence[tuple[Candidate, str]], known: frozenset[str], advance: Callable[[str], None]
) -> list[Outcome]:
    out = []
    for cand, name in work:
        out.append(read_one(cand, name, known))
        advance(cand.path.name)
    return out
