"""``countermap mirror build``: a folder an air-gapped SOC can ``sync --mirror`` from.

The mirror has the download layout (``mappings/...``, ``attack/...``,
``capability-descriptions/...``) and the two listings discovery reads, in upstream's formats:
``index.json`` (attack-stix-data's collection index, URLs relative to the mirror) and
``mappings-tree.json`` (the Git trees API's answer for the repository).  It is built from the
files the database was loaded from (each checked against the sha256 the database recorded), or
from a fresh download of what upstream lists.  The folder is written beside the target and
renamed into place only when complete, so a failed build leaves the old mirror as it was.
"""

from __future__ import annotations

import datetime as dt
import hashlib
import json
import re
import shutil
import tempfile
from collections.abc import Sequence
from dataclasses import dataclass, field
from pathlib import Path, PurePosixPath
from typing import Any

import httpx
from sqlalchemy import Engine, select

from store.discovery import (
    ATTACK_INDEX_FILE,
    MAPPINGS_TREE_FILE,
    Source,
    Upstream,
    attack_index_document,
    discover,
    http_fetch,
    mapping_path_parts,
    tree_document,
)
from store.models import AttackBundle, IngestedFile
from store.sync import download_to
from store.sync_http import Budget, SyncFailure

__all__ = ["MirrorError", "MirrorFile", "MirrorReport", "build_mirror", "database_files", "download_files"]

_BUNDLE_PATH = re.compile(r"^attack/(enterprise|mobile|ics)-attack-(\d+(?:\.\d+)*)\.json$")
_LAYOUT_TAIL = re.compile(r"(?:^|/)(mappings/.+|capability-descriptions/[^/]+)$")
_MAPPING_NAME = re.compile(
    r"^(?P<release>.+)_attack-(?P<attack>[\d.]+)-(?P<domain>enterprise|mobile|ics)\.json$"
)
_CHUNK = 1 << 16


class MirrorError(Exception):
    """Nothing was written; the message lists every file that could not be had and why."""


@dataclass(frozen=True)
class MirrorFile:
    """One file for the mirror: where it goes, where its bytes are, what they must hash to."""

    path: str  # relative, POSIX, the download layout
    origin: str  # a local path or an http(s) URL
    sha256: str | None = None
    modified: str | None = None  # ISO time for an ATT&CK bundle's index entry


@dataclass
class MirrorReport:
    written: list[str] = field(default_factory=list)
    skipped: list[str] = field(default_factory=list)  # catalogued with no URL (download mode)
    bytes: int = 0

    def as_dict(self) -> dict[str, Any]:
        return {"written": self.written, "skipped": self.skipped, "bytes": self.bytes}

    def summary(self, target: Path) -> str:
        mappings = sum(p.startswith("mappings/") for p in self.written)
        attack = sum(p.startswith("attack/") for p in self.written)
        other = len(self.written) - mappings - attack
        text = (
            f"{target}: {mappings} mapping file(s), {attack} ATT&CK bundle(s), {other} other file(s),"
            f" {self.bytes / 1e6:,.1f} MB, with {ATTACK_INDEX_FILE} and {MAPPINGS_TREE_FILE}"
        )
        if self.skipped:
            text += f"; {len(self.skipped)} catalogued file(s) without a URL skipped"
        return text


# --------------------------------------------------------------------------- what goes in


def database_files(engine: Engine) -> list[MirrorFile]:
    """The files the database holds the content of, one per loaded thing (a release, an ATT&CK
    domain, a description list), at their place in the download layout."""
    with engine.connect() as conn:
        rows = conn.execute(
            select(IngestedFile.kind, IngestedFile.key, IngestedFile.sha256, IngestedFile.source_file)
        ).all()
        bundles = {
            d: (v, at)
            for d, v, at in conn.execute(
                select(AttackBundle.domain, AttackBundle.attack_version, AttackBundle.loaded_at)
            )
        }
    chosen: dict[tuple[str, str], MirrorFile] = {}
    problems: list[str] = []
    for kind, key, sha, source_file in rows:
        path = _layout_path(kind, key, source_file, bundles)
        if path is None:
            problems.append(f"{source_file}: cannot tell where a {kind} file goes in the mirror")
            continue
        modified = None
        if kind == "attack" and key in bundles:
            loaded = bundles[key][1]
            modified = loaded.replace(tzinfo=dt.UTC).isoformat() if loaded is not None else None
        candidate = MirrorFile(path, source_file, sha, modified)
        held = chosen.get((kind, key))
        # The same content loaded from a JSON and a YAML copy: the JSON one is what upstream lists.
        if held is None or (not held.path.endswith(".json") and path.endswith(".json")):
            chosen[(kind, key)] = candidate
    if problems:
        raise MirrorError("\n".join(problems))
    if not chosen:
        raise MirrorError("the database holds no data: run `countermap ingest` or `countermap sync` first")
    return sorted(chosen.values(), key=lambda f: f.path)


def _layout_path(
    kind: str, key: str, source_file: str, bundles: dict[str, tuple[str | None, Any]]
) -> str | None:
    name = PurePosixPath(source_file.replace("\\", "/").split("?")[0])
    if kind == "attack":
        version = bundles.get(key, (None, None))[0]
        return f"attack/{key}-attack-{version}.json" if version else None
    tail = _LAYOUT_TAIL.search(str(name))
    if tail is not None and (kind != "mapping" or mapping_path_parts(tail.group(1))):
        return tail.group(1)
    if kind == "descriptions":
        return f"capability-descriptions/{name.name}"
    # A mapping file loaded from outside a Mappings Explorer tree: its name says the rest.
    m = _MAPPING_NAME.match(name.name)
    framework = key.split(" ", 1)[0]
    if m is None or not framework:
        return None
    return f"mappings/{framework}/attack-{m['attack']}/{m['release']}/{m['domain']}/{name.name}"


def download_files(
    client: httpx.Client, pinned: Sequence[Source], upstream: Upstream | None, budget: Budget
) -> tuple[list[MirrorFile], list[str], list[str]]:
    """What upstream lists now (the catalogue when ``upstream`` is None): files with a URL,
    the catalogued paths without one, and the discovery warnings."""
    sources = list(pinned)
    warnings: list[str] = []
    if upstream is not None:
        found = discover(pinned, upstream, http_fetch(client, budget))
        sources, warnings = found.sources, found.warnings
    files = [MirrorFile(s.path, s.url, s.sha256) for s in sources if s.url]
    return files, [s.path for s in sources if not s.url], warnings


# --------------------------------------------------------------------------- writing


def build_mirror(
    target: Path,
    files: Sequence[MirrorFile],
    *,
    client: httpx.Client | None = None,
    retries: int = 3,
    backoff: float = 1.0,
    budget: Budget | None = None,
) -> MirrorReport:
    """Write ``files`` and the two listings into ``target``, replacing it only when all are in."""
    budget = budget or Budget()
    target = target.expanduser().absolute()
    target.parent.mkdir(parents=True, exist_ok=True)
    work = Path(tempfile.mkdtemp(prefix=f".{target.name}.building-", dir=target.parent))
    report = MirrorReport()
    try:
        failures: list[str] = []
        bundles: list[tuple[str, str, str, str]] = []
        tree: list[tuple[str, int]] = []
        for f in files:
            rel = PurePosixPath(f.path)
            if rel.is_absolute() or ".." in rel.parts:
                failures.append(f"{f.path}: not a path inside the mirror")
                continue
            dest = work / rel
            dest.parent.mkdir(parents=True, exist_ok=True)
            try:
                if f.origin.startswith(("http://", "https://")):
                    if client is None:
                        raise SyncFailure("no HTTP client to download it with")
                    entry = download_to(client, f.origin, dest, None, retries, backoff, budget)
                    sha = entry.sha256 if entry is not None else None
                else:
                    sha = _copy(Path(f.origin), dest)
            except SyncFailure as exc:
                failures.append(f"{f.origin}: {exc}")
                continue
            if f.sha256 and sha != f.sha256:
                failures.append(f"{f.origin}: sha256 {sha} is not the {f.sha256} the source names")
                continue
            size = dest.stat().st_size
            report.written.append(f.path)
            report.bytes += size
            bundle = _BUNDLE_PATH.match(f.path)
            if bundle is not None:
                modified = f.modified or dt.datetime.now(dt.UTC).isoformat()
                bundles.append((bundle.group(1), bundle.group(2), f.path, modified))
            elif f.path.startswith("mappings/"):
                tree.append((f.path, size))
        if failures:
            raise MirrorError("\n".join(failures))
        (work / ATTACK_INDEX_FILE).write_text(json.dumps(attack_index_document(bundles), indent=1))
        (work / MAPPINGS_TREE_FILE).write_text(json.dumps(tree_document(tree), indent=1))
        _replace(work, target)
    finally:
        shutil.rmtree(work, ignore_errors=True)
    return report


def _copy(origin: Path, dest: Path) -> str:
    digest = hashlib.sha256()
    try:
        with origin.open("rb") as src, dest.open("wb") as dst:
            while chunk := src.read(_CHUNK):
                digest.update(chunk)
                dst.write(chunk)
    except OSError as exc:
        raise SyncFailure(f"cannot read: {exc.strerror or exc}") from None
    return digest.hexdigest()


def _replace(work: Path, target: Path) -> None:
    """``work`` becomes ``target``; an old mirror is moved aside first and removed after."""
    if not target.exists():
        work.rename(target)
        return
    if not target.is_dir():
        raise MirrorError(f"{target}: exists and is not a folder")
    old = Path(tempfile.mkdtemp(prefix=f".{target.name}.old-", dir=target.parent))
    old.rmdir()
    target.rename(old)
    try:
        work.rename(target)
    except OSError:
        old.rename(target)
        raise
    shutil.rmtree(old, ignore_errors=True)
