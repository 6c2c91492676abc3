"""``countermap sync``: download the official files, then ingest them in one run.

Everything is fetched into a temporary folder first; only when every file has arrived whole
(and matches its pinned sha256) is the folder ingested, so a failed or partial download
changes nothing.  Conditional requests (ETag / Last-Modified, remembered in ``source_cache``)
skip files whose content the database already holds.
"""

from __future__ import annotations

import contextlib
import email.utils
import hashlib
import random
import re
import shutil
import signal
import tempfile
import threading
import time
from collections.abc import Iterator, Sequence
from dataclasses import dataclass, field
from importlib.resources.abc import Traversable
from pathlib import Path, PurePosixPath
from typing import Any
from urllib.parse import quote

import httpx
import yaml
from sqlalchemy import Engine, delete, insert, select

from store.app_state import SourceCache
from store.db import write_connection
from store.discovery import (
    ATTACK_INDEX_FILE,
    MAPPINGS_TREE_FILE,
    Discovery,
    Source,
    Upstream,
    discover,
    file_fetch,
    http_fetch,
)
from store.ingest import IngestError, IngestReport, ingest_paths, progress_bar
from store.ingest.files import MAX_FILE_BYTES
from store.migrate import upgrade
from store.models import IngestedFile, utcnow
from store.sync_http import Budget, SyncFailure, guarded_chunks

__all__ = [
    "Budget",
    "Source",
    "SyncError",
    "SyncResult",
    "Upstream",
    "download_to",
    "load_sources",
    "sync_sources",
]

_SHA256 = re.compile(r"^[0-9a-f]{64}$")
_RETRY_STATUS = frozenset({408, 425, 429, 500, 502, 503, 504})
_CHUNK = 1 << 16


class SyncError(Exception):
    """Nothing was changed; the message lists every source that failed and why."""


@dataclass
class SyncResult:
    downloaded: list[str] = field(default_factory=list)
    not_modified: list[str] = field(default_factory=list)
    skipped: list[str] = field(default_factory=list)  # no URL and no mirror
    discovered: list[str] = field(default_factory=list)  # listed upstream, not in the catalogue
    withdrawn: list[str] = field(default_factory=list)  # in the catalogue, no longer listed
    warnings: list[str] = field(default_factory=list)  # a listing fell back to the catalogue
    ingest: IngestReport | None = None

    def as_dict(self) -> dict[str, Any]:
        return {
            "downloaded": self.downloaded,
            "not_modified": self.not_modified,
            "skipped": self.skipped,
            "discovered": self.discovered,
            "withdrawn": self.withdrawn,
            "warnings": self.warnings,
            "ingest": self.ingest.summary() if self.ingest else None,
        }

    def summary(self) -> str:
        parts = [f"{len(self.downloaded)} downloaded", f"{len(self.not_modified)} not modified"]
        if self.discovered:
            parts.append(f"{len(self.discovered)} found upstream beyond the catalogue")
        if self.withdrawn:
            parts.append(f"{len(self.withdrawn)} no longer published (loaded data kept)")
        if self.skipped:
            parts.append(f"{len(self.skipped)} skipped (mirror only)")
        head = ", ".join(parts)
        if self.ingest is None:
            return head + "; nothing to ingest"
        return f"{head}; {self.ingest.summary()}"


def load_sources(path: str | Traversable) -> list[Source]:
    """Read and check the catalogue; errors name the entry and the problem."""
    try:
        raw = yaml.safe_load((Path(path) if isinstance(path, str) else path).read_text(encoding="utf-8"))
    except (OSError, yaml.YAMLError) as exc:
        raise SyncError(f"{path}: cannot read the source catalogue: {exc}") from None
    entries = raw.get("sources") if isinstance(raw, dict) else None
    if not isinstance(entries, list):
        raise SyncError(f"{path}: expected a mapping with a 'sources' list")
    out: list[Source] = []
    seen: set[str] = set()
    for i, entry in enumerate(entries):
        where = f"{path}: sources[{i}]"
        if not isinstance(entry, dict) or not isinstance(entry.get("path"), str):
            raise SyncError(f"{where}: each entry needs a 'path'")
        rel = PurePosixPath(entry["path"])
        if rel.is_absolute() or ".." in rel.parts or not rel.parts:
            raise SyncError(f"{where}: path must be relative and stay inside the folder: {entry['path']}")
        url, sha = entry.get("url"), entry.get("sha256")
        if url is not None and (not isinstance(url, str) or not url.startswith(("http://", "https://"))):
            raise SyncError(f"{where}: url must be an http(s) URL")
        if sha is not None and (not isinstance(sha, str) or not _SHA256.match(sha.lower())):
            raise SyncError(f"{where}: sha256 must be 64 hex digits")
        if str(rel) in seen:
            raise SyncError(f"{where}: {rel} is listed twice")
        seen.add(str(rel))
        out.append(Source(str(rel), url, sha.lower() if sha else None))
    return out


@dataclass(frozen=True)
class _Cached:
    etag: str | None
    last_modified: str | None
    sha256: str | None


def sync_sources(
    engine: Engine,
    *,
    sources_file: str | Traversable,
    mirror: str | None = None,
    only: Sequence[str] | None = None,
    timeout: float = 30.0,
    retries: int = 3,
    backoff: float = 1.0,
    progress: bool = False,
    transport: httpx.BaseTransport | None = None,
    upstream: Upstream | None = None,
    budget: Budget | None = None,
) -> SyncResult:
    """Fetch every catalogued file (or those whose path contains one of ``only``) and ingest.

    With ``upstream``, the catalogue is first brought up to what upstream lists now (see
    ``store.discovery``); with a mirror, the mirror's own listings are read when it has them.
    """

    upgrade(engine)
    budget = budget or Budget(timeout_s=timeout)
    budget.timeout_s = timeout
    sources = load_sources(sources_file)
    result = SyncResult()
    with _client(timeout, transport) as client, _cleanup_on_sigterm() as workdir:
        if upstream is not None:
            found = _discover(client, sources, upstream, mirror, budget)
            if found is not None:
                sources = found.sources
                result.warnings.extend(found.warnings)
                result.withdrawn.extend(found.withdrawn)
                result.discovered.extend(found.new)
        if only:
            sources = [s for s in sources if any(o in s.path for o in only)]
            if not sources:
                raise SyncError(f"no source matches {', '.join(only)}")
        cache = _load_cache(engine)
        fetched: dict[str, tuple[Path, str, _Cached]] = {}  # origin → (file, path, cache entry)
        failures: list[str] = []
        with _bar(progress, len(sources)) as advance:
            for source in sources:
                origin = _origin(source, mirror)
                if origin is None:
                    result.skipped.append(source.path)
                    advance(source.path)
                    continue
                target = workdir / source.path
                target.parent.mkdir(parents=True, exist_ok=True)
                try:
                    budget.check(source.path)
                    if origin.startswith(("http://", "https://")):
                        cached = cache.get(origin)
                        entry = download_to(client, origin, target, cached, retries, backoff, budget)
                    else:
                        entry = _copy(Path(origin), target)
                    if entry is None:
                        result.not_modified.append(source.path)
                    else:
                        if source.sha256 and entry.sha256 != source.sha256:
                            raise _Failed(f"sha256 {entry.sha256} is not the pinned {source.sha256}")
                        fetched[origin] = (target, source.path, entry)
                        result.downloaded.append(source.path)
                except _Failed as exc:
                    failures.append(f"{origin}: {exc}")
                advance(source.path)
        if failures:
            raise SyncError("\n".join(failures))
        if fetched:
            labels = {str(target): origin for origin, (target, _, _) in fetched.items()}
            try:
                result.ingest = ingest_paths(engine, [workdir], progress=progress, kind="sync", labels=labels)
            except IngestError as exc:
                raise SyncError(str(exc)) from None
            _store_cache(engine, fetched)
        return result


def _discover(
    client: httpx.Client, pinned: list[Source], upstream: Upstream, mirror: str | None, budget: Budget
) -> Discovery | None:
    """The catalogue brought up to date; None for a mirror that carries no listings."""
    if mirror is None:
        return discover(pinned, upstream, http_fetch(client, budget))
    if mirror.startswith(("http://", "https://")):
        return discover(pinned, upstream, http_fetch(client, budget), mirror_root=mirror)
    root = Path(mirror).expanduser()
    if not (root / ATTACK_INDEX_FILE).is_file() and not (root / MAPPINGS_TREE_FILE).is_file():
        return None
    return discover(pinned, upstream, file_fetch(root), mirror_root=str(root))


class _Terminated(BaseException):
    """SIGTERM during a sync: unwinds like Ctrl-C so the temporary folder is removed."""


@contextlib.contextmanager
def _cleanup_on_sigterm() -> Iterator[Path]:
    """A temporary folder that is removed on return, on error and on SIGTERM."""
    workdir = Path(tempfile.mkdtemp(prefix="countermap-sync-"))
    previous: Any = None
    main = threading.current_thread() is threading.main_thread()

    def terminate(signum: int, frame: Any) -> None:
        raise _Terminated()

    if main:
        previous = signal.signal(signal.SIGTERM, terminate)
    try:
        yield workdir
    except _Terminated:
        shutil.rmtree(workdir, ignore_errors=True)
        raise SystemExit(128 + signal.SIGTERM) from None
    finally:
        shutil.rmtree(workdir, ignore_errors=True)
        if main:
            signal.signal(signal.SIGTERM, previous)


_Failed = SyncFailure


def _origin(source: Source, mirror: str | None) -> str | None:
    if mirror is None:
        return source.url
    if mirror.startswith(("http://", "https://")):
        return mirror.rstrip("/") + "/" + quote(source.path)
    return str(Path(mirror).expanduser() / source.path)


def _client(timeout: float, transport: httpx.BaseTransport | None) -> httpx.Client:
    return httpx.Client(
        timeout=httpx.Timeout(timeout),
        follow_redirects=True,
        transport=transport,
        headers={"User-Agent": "countermap-sync"},
    )


def _load_cache(engine: Engine) -> dict[str, _Cached]:
    """Validators are only worth sending for content the database still holds."""
    with engine.connect() as conn:
        held = set(conn.scalars(select(IngestedFile.sha256)))
        rows = conn.execute(
            select(SourceCache.url, SourceCache.etag, SourceCache.last_modified, SourceCache.sha256)
        )
        return {url: _Cached(etag, lm, sha) for url, etag, lm, sha in rows if sha in held}


def _store_cache(engine: Engine, fetched: dict[str, tuple[Path, str, _Cached]]) -> None:
    with write_connection(engine) as conn:
        conn.execute(delete(SourceCache).where(SourceCache.url.in_(list(fetched))))
        conn.execute(
            insert(SourceCache),
            [
                {
                    "url": origin,
                    "etag": entry.etag,
                    "last_modified": entry.last_modified,
                    "sha256": entry.sha256,
                    "fetched_at": utcnow(),
                }
                for origin, (_, _, entry) in fetched.items()
            ],
        )


def _copy(origin: Path, target: Path) -> _Cached:
    try:
        size = origin.stat().st_size
        if size > MAX_FILE_BYTES:
            raise _Failed(f"{size:,} bytes is over the {MAX_FILE_BYTES:,}-byte limit")
        digest = hashlib.sha256()
        with origin.open("rb") as src, target.open("wb") as dst:
            while chunk := src.read(_CHUNK):
                digest.update(chunk)
                dst.write(chunk)
    except OSError as exc:
        raise _Failed(f"cannot read: {exc.strerror or exc}") from None
    return _Cached(None, None, digest.hexdigest())


def _retry_after(response: httpx.Response) -> float | None:
    value = response.headers.get("Retry-After")
    if not value:
        return None
    if value.strip().isdigit():
        return float(value)
    when = email.utils.parsedate_to_datetime(value) if value else None
    return max(0.0, when.timestamp() - time.time()) if when else None


def download_to(
    client: httpx.Client,
    url: str,
    target: Path,
    cached: _Cached | None,
    retries: int,
    backoff: float,
    budget: Budget,
) -> _Cached | None:
    """The file at ``url`` into ``target``; None when the server says it has not changed."""
    headers = {}
    if cached is not None:
        if cached.etag:
            headers["If-None-Match"] = cached.etag
        if cached.last_modified:
            headers["If-Modified-Since"] = cached.last_modified
    last_error = "no attempt made"
    last_wait: float | None = None
    for attempt in range(retries + 1):
        if attempt:
            if last_wait is not None and last_wait > budget.retry_after_cap:
                raise _Failed(
                    f"{last_error}: the server asks to retry after {last_wait:,.0f} s,"
                    f" over the {budget.retry_after_cap:g} s cap"
                )
            pause = _pause(attempt, backoff, last_wait)
            if pause >= budget.remaining():
                raise _Failed(f"{last_error}; no time left before the run's {budget.seconds:g} s deadline")
            time.sleep(pause)
            last_wait = None
        try:
            with client.stream("GET", url, headers=headers, timeout=budget.timeout()) as response:
                if response.status_code == 304 and cached is not None:
                    return None
                if response.status_code in _RETRY_STATUS:
                    last_error = f"HTTP {response.status_code}"
                    last_wait = _retry_after(response)
                    continue
                if response.status_code != 200:
                    raise _Failed(f"HTTP {response.status_code}")
                return _save(response, target, budget)
        except httpx.TooManyRedirects:
            raise _Failed("too many redirects (a redirect loop?)") from None
        except httpx.TimeoutException:
            last_error = "timed out"
        except (httpx.TransportError, httpx.DecodingError) as exc:  # refused, reset, cut short, ...
            last_error = f"connection failed: {exc or type(exc).__name__}"
        except OSError as exc:  # writing the temporary copy
            raise _Failed(f"cannot write {target}: {exc.strerror or exc}") from None
    raise _Failed(f"{last_error} (after {retries + 1} attempts)")


def _pause(attempt: int, backoff: float, retry_after: float | None) -> float:
    """Exponential backoff with jitter; a server's Retry-After wins when it asks for longer."""
    wait = min(60.0, backoff * 2 ** (attempt - 1)) * (0.5 + random.random() / 2)
    return max(wait, retry_after or 0.0)


def _save(response: httpx.Response, target: Path, budget: Budget) -> _Cached:
    declared = response.headers.get("Content-Length")
    if declared and declared.isdigit() and int(declared) > MAX_FILE_BYTES:
        raise _Failed(f"{int(declared):,} bytes is over the {MAX_FILE_BYTES:,}-byte limit")
    digest = hashlib.sha256()
    size = 0
    with target.open("wb") as fh:
        for chunk in guarded_chunks(response, MAX_FILE_BYTES, budget, raw=_identity(response)):
            size += len(chunk)
            digest.update(chunk)
            fh.write(chunk)
    if declared and declared.isdigit() and _identity(response) and size != int(declared):
        raise _Failed(f"incomplete download: {size:,} of {int(declared):,} bytes")
    return _Cached(response.headers.get("ETag"), response.headers.get("Last-Modified"), digest.hexdigest())


def _identity(response: httpx.Response) -> bool:
    return response.headers.get("Content-Encoding", "identity").lower() in ("identity", "")


def _bar(enabled: bool, total: int) -> Any:
    return progress_bar(enabled, total, "sync")
