"""A disk cache of the built resolver index, so a cold ``countermap ask`` skips the build.

Keyed by the data version, the alias files' bytes, the resolver's own source and the Python
version: a stale, foreign or unreadable file is ignored and rebuilt, never trusted.  Written
atomically (temp file + rename) under ``$XDG_CACHE_HOME/countermap/``.
"""

from __future__ import annotations

import hashlib
import os
import pickle
import sys
import tempfile
from importlib import resources
from pathlib import Path

from bot.config import Settings
from bot.resolve import ResolverIndex, load_aliases
from bot.resolve.aliases import DEFAULT_ALIAS_FILE
from store.db import Engine
from store.reads.scope import Reads, reads

_KEEP = 4  # newest cache files kept; older ones are removed on write


def cache_dir() -> Path:
    base = os.environ.get("XDG_CACHE_HOME") or str(Path.home() / ".cache")
    return Path(base) / "countermap"


def _code_fingerprint() -> str:
    h = hashlib.sha256(sys.version.encode())
    sources = (f for f in resources.files("bot.resolve").iterdir() if f.name.endswith(".py"))
    for source in sorted(sources, key=lambda f: f.name):
        h.update(source.name.encode())
        h.update(source.read_bytes())
    return h.hexdigest()


def cache_key(version: str, settings: Settings) -> str:
    h = hashlib.sha256(f"{version}|{_code_fingerprint()}".encode())
    for path in [DEFAULT_ALIAS_FILE, *settings.alias_files]:
        h.update(str(path).encode())
        try:
            h.update(path.read_bytes())
        except OSError:
            h.update(b"<missing>")
    return h.hexdigest()[:32]


def _path(key: str, directory: Path | None = None) -> Path:
    return (directory or cache_dir()) / f"index-{key}.pickle"


def load(key: str, directory: Path | None = None) -> ResolverIndex | None:
    """The cached index for ``key``, or None if absent or unreadable."""

    path = _path(key, directory)
    try:
        with path.open("rb") as fh:
            if fh.read(len(key)).decode("ascii", "replace") != key:
                return None
            obj = pickle.load(fh)
    except Exception:  # any broken file is just a cache miss
        return None
    return obj if isinstance(obj, ResolverIndex) else None


def store(key: str, index: ResolverIndex, directory: Path | None = None) -> None:
    """Write ``index`` for ``key`` atomically; failures (read-only home, full disk) are ignored."""
    folder = directory or cache_dir()
    try:
        folder.mkdir(parents=True, exist_ok=True)
        fd, tmp = tempfile.mkstemp(prefix=".index-", dir=folder)
        try:
            with os.fdopen(fd, "wb") as fh:
                fh.write(key.encode("ascii"))
                pickle.dump(index, fh, protocol=pickle.HIGHEST_PROTOCOL)
            os.replace(tmp, _path(key, folder))
        except BaseException:
            Path(tmp).unlink(missing_ok=True)
            raise
        old = sorted(folder.glob("index-*.pickle"), key=lambda p: p.stat().st_mtime, reverse=True)
        for stale in old[_KEEP:]:
            stale.unlink(missing_ok=True)
    except Exception:  # the cache is an optimisation only
        return


def build_index(data: Reads, version: str, settings: Settings, *, use_cache: bool = True) -> ResolverIndex:
    """The resolver index for this data: from the disk cache when valid, else built (and cached)."""

    key = cache_key(version, settings) if use_cache else ""
    if use_cache:
        cached = load(key)
        if cached is not None:
            return cached
    index = ResolverIndex.build(data, aliases=load_aliases(settings))
    if use_cache:
        store(key, index)
    return index


def warm(engine: Engine, settings: Settings) -> bool:
    """Build and cache the index for the data now in ``engine`` unless a file for it exists
    (``ingest`` and ``sync`` call this, so the first ``ask`` after new data is as quick as the
    rest).  True if it built one.  Never raises: the cache is an optimisation only."""

    try:
        with reads(engine) as data:
            version = data.data_version()
            if _path(cache_key(version, settings)).exists():
                return False
            build_index(data, version, settings)
        return True
    except Exception:
        return False
