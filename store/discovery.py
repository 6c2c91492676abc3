"""What upstream publishes now: ATT&CK versions from attack-stix-data's collection index, and
Mappings Explorer files from the repository's Git tree.

``countermap sync`` used to fetch only the files pinned in ``data/sources.yaml``, so a new
release was never found.  Discovery lists what is published and turns it into the same
``Source`` entries; the pinned catalogue stays as the fallback when a listing cannot be read
(rate limit, corrupt answer, host down) and for its sha256 pins.  A mirror carries the same two
listings as files (``index.json`` and ``mappings-tree.json``, see ``countermap mirror build``).
"""

from __future__ import annotations

import datetime as dt
import json
import re
import time
from collections.abc import Callable, Sequence
from dataclasses import dataclass, field
from pathlib import Path, PurePosixPath
from typing import Any
from urllib.parse import urljoin

import httpx

from store.ingest.loader import version_key
from store.sync_http import Budget, SyncFailure, read_limited

__all__ = [
    "ATTACK_INDEX_FILE",
    "MAPPINGS_TREE_FILE",
    "Discovery",
    "DiscoveryError",
    "Upstream",
    "attack_index_document",
    "discover",
    "mapping_path_parts",
    "tree_document",
]

ATTACK_INDEX_FILE = "index.json"  # in a mirror: attack-stix-data's format, URLs relative to the mirror
MAPPINGS_TREE_FILE = "mappings-tree.json"  # in a mirror: the Git trees API's format
MAX_LISTING_BYTES = 20 << 20
MAX_PAGES = 50
MAX_TREE_DEPTH = 3

_BUNDLE_NAME = re.compile(r"^(enterprise|mobile|ics)-attack-(\d+(?:\.\d+)*)\.json$")
_MAPPING_PATH = re.compile(
    r"^mappings/(?P<framework>[A-Za-z0-9_.-]+)/attack-(?P<attack>\d+(?:\.\d+)*)/(?P<release>[^/]+)/"
    r"(?P<domain>enterprise|mobile|ics)/[^/]+\.json$"
)
_DOMAIN_BY_NAME = {"enterprise att&ck": "enterprise", "mobile att&ck": "mobile", "ics att&ck": "ics"}
_LINK_NEXT = re.compile(r'<([^>]+)>\s*;\s*rel="?next"?')


@dataclass(frozen=True)
class Source:
    path: str  # relative, POSIX: the layout inside a download folder or mirror
    url: str | None = None
    sha256: str | None = None


class DiscoveryError(Exception):
    """One listing could not be read; sync falls back to the pinned entries for it."""


@dataclass(frozen=True)
class Upstream:
    """Where the listings are, and which releases to take."""

    attack_index_url: str | None = (
        "https://raw.githubusercontent.com/mitre-attack/attack-stix-data/master/index.json"
    )
    mappings_tree_url: str | None = (
        "https://api.github.com/repos/center-for-threat-informed-defense/mappings-explorer/git/trees/main"
    )
    mappings_raw_url: str = (
        "https://raw.githubusercontent.com/center-for-threat-informed-defense/mappings-explorer/main/"
    )
    token: str | None = field(default=None, repr=False)  # for the code host's API rate limit
    frameworks: tuple[str, ...] = ()  # empty: every framework published
    attack_version: str = "latest"  # or one version ("18.1") for every domain


@dataclass
class Discovery:
    sources: list[Any]  # store.sync.Source, in catalogue order then discovered order
    warnings: list[str] = field(default_factory=list)
    withdrawn: list[str] = field(default_factory=list)  # pinned paths upstream no longer lists
    new: list[str] = field(default_factory=list)  # discovered paths the catalogue does not pin


def mapping_path_parts(path: str) -> dict[str, str] | None:
    """framework, attack, release and domain of a Mappings Explorer file path, else None."""
    m = _MAPPING_PATH.match(path)
    return m.groupdict() if m else None


def _norm(name: str) -> str:
    return name.lower().replace("-", "_")


# --------------------------------------------------------------------------- fetching


Fetch = Callable[[str, dict[str, str]], tuple[Any, httpx.Headers | None]]


def http_fetch(client: httpx.Client, budget: Budget) -> Fetch:
    """GET a JSON listing, waiting out a short rate limit; errors are ``DiscoveryError``."""

    def fetch(url: str, headers: dict[str, str]) -> tuple[Any, httpx.Headers | None]:
        for _attempt in range(2):
            budget.check(url)
            try:
                with client.stream("GET", url, headers=headers, timeout=budget.timeout()) as response:
                    if response.status_code in (403, 429) and _rate_limited(response):
                        wait = _reset_wait(response)
                        if _attempt == 0 and wait is not None and budget.may_wait(wait):
                            time.sleep(wait)
                            continue
                        raise DiscoveryError(f"{url}: {_rate_limit_text(response)}")
                    if response.status_code != 200:
                        raise DiscoveryError(f"{url}: HTTP {response.status_code}")
                    body = read_limited(response, MAX_LISTING_BYTES, budget)
                    headers_out = response.headers
            except SyncFailure as exc:
                raise DiscoveryError(f"{url}: {exc}") from None
            except httpx.TooManyRedirects:
                raise DiscoveryError(f"{url}: too many redirects") from None
            except httpx.HTTPError as exc:
                raise DiscoveryError(f"{url}: {exc or type(exc).__name__}") from None
            return _json(url, body), headers_out
        raise DiscoveryError(f"{url}: still rate-limited after waiting")

    return fetch


def file_fetch(root: Path) -> Fetch:
    """Read a listing from a mirror folder.  The query a listing URL carries for the API
    (``?recursive=1``) is not part of the file's name."""

    def fetch(url: str, headers: dict[str, str]) -> tuple[Any, httpx.Headers | None]:
        path = Path(url.split("?", 1)[0])
        try:
            if path.stat().st_size > MAX_LISTING_BYTES:
                raise DiscoveryError(f"{path}: over the {MAX_LISTING_BYTES:,}-byte limit for a listing")
            body = path.read_bytes()
        except OSError as exc:
            raise DiscoveryError(f"{path}: cannot read: {exc.strerror or exc}") from None
        return _json(str(path), body), None

    return fetch


def _json(where: str, body: bytes) -> Any:
    try:
        return json.loads(body.decode("utf-8-sig"))
    except (UnicodeDecodeError, ValueError, RecursionError) as exc:
        raise DiscoveryError(f"{where}: not valid JSON ({exc})") from None


def _rate_limited(response: httpx.Response) -> bool:
    return response.headers.get("X-RateLimit-Remaining") == "0" or "Retry-After" in response.headers


def _reset_wait(response: httpx.Response) -> float | None:
    after = response.headers.get("Retry-After", "").strip()
    if after.isdigit():
        return float(after)
    reset = response.headers.get("X-RateLimit-Reset", "").strip()
    if reset.isdigit():
        return max(0.0, int(reset) - time.time()) + 1.0
    return None


def _rate_limit_text(response: httpx.Response) -> str:
    reset = response.headers.get("X-RateLimit-Reset", "").strip()
    when = ""
    if reset.isdigit():
        at = dt.datetime.fromtimestamp(int(reset), dt.UTC)
        when = f" until {at:%Y-%m-%d %H:%M:%S} UTC"
    return f"rate-limited (HTTP {response.status_code}){when}; set COUNTERMAP_GITHUB_TOKEN for a higher limit"


# --------------------------------------------------------------------------- ATT&CK


def attack_bundles(document: Any, where: str, wanted: str) -> list[tuple[str, str, str]]:
    """(domain, version, url) of the chosen version of every domain in a collection index."""
    if not isinstance(document, dict) or not isinstance(document.get("collections"), list):
        raise DiscoveryError(f"{where}: not an ATT&CK collection index (no 'collections' list)")
    chosen: dict[str, tuple[str, str]] = {}
    for i, coll in enumerate(document["collections"]):
        if not isinstance(coll, dict) or not isinstance(coll.get("versions"), list):
            raise DiscoveryError(f"{where}: collections[{i}] has no 'versions' list")
        for j, entry in enumerate(coll["versions"]):
            if not (
                isinstance(entry, dict)
                and isinstance(entry.get("version"), str)
                and isinstance(entry.get("url"), str)
            ):
                raise DiscoveryError(f"{where}: collections[{i}].versions[{j}] needs a version and a url")
            name = PurePosixPath(entry["url"].split("?")[0]).name
            m = _BUNDLE_NAME.match(name)
            domain = m.group(1) if m else _DOMAIN_BY_NAME.get(str(coll.get("name", "")).lower())
            if domain is None:
                continue  # a collection this program does not load
            version = entry["version"]
            if wanted != "latest" and version != wanted:
                continue
            held = chosen.get(domain)
            if held is None or version_key(version) > version_key(held[0]):
                chosen[domain] = (version, entry["url"])
    if not chosen:
        what = "any" if wanted == "latest" else f"version {wanted} of any"
        raise DiscoveryError(f"{where}: lists no {what} ATT&CK domain")
    return [(d, v, u) for d, (v, u) in sorted(chosen.items())]


def attack_index_document(bundles: Sequence[tuple[str, str, str, str]]) -> dict[str, Any]:
    """An index in attack-stix-data's format: (domain, version, url, modified) per bundle."""
    names = {"enterprise": "Enterprise ATT&CK", "mobile": "Mobile ATT&CK", "ics": "ICS ATT&CK"}
    collections = []
    for domain in sorted({b[0] for b in bundles}):
        versions = [
            {"version": v, "url": u, "modified": m}
            for d, v, u, m in sorted(bundles, key=lambda b: version_key(b[1]))
            if d == domain
        ]
        collections.append({"name": names.get(domain, domain), "versions": versions})
    return {"name": "MITRE ATT&CK", "collections": collections}


# --------------------------------------------------------------------------- Mappings Explorer


def tree_document(paths: Sequence[tuple[str, int]]) -> dict[str, Any]:
    """A listing in the Git trees API's format: (path, size) per file."""
    return {
        "tree": [{"path": p, "mode": "100644", "type": "blob", "size": s} for p, s in sorted(paths)],
        "truncated": False,
    }


def _tree_entries(document: Any, where: str) -> tuple[list[dict[str, Any]], bool]:
    if not isinstance(document, dict) or not isinstance(document.get("tree"), list):
        raise DiscoveryError(f"{where}: not a Git tree listing (no 'tree' list)")
    entries = document["tree"]
    for i, e in enumerate(entries):
        if not (isinstance(e, dict) and isinstance(e.get("path"), str) and isinstance(e.get("type"), str)):
            raise DiscoveryError(f"{where}: tree[{i}] needs a path and a type")
    return entries, bool(document.get("truncated"))


def _paged(fetch: Fetch, url: str, headers: dict[str, str]) -> tuple[list[dict[str, Any]], bool]:
    """Every page of one tree listing (``Link: rel="next"``), and whether it was truncated."""
    out: list[dict[str, Any]] = []
    truncated = False
    seen: set[str] = set()
    next_url: str | None = url
    while next_url is not None:
        if next_url in seen or len(seen) >= MAX_PAGES:
            raise DiscoveryError(f"{url}: pagination does not end (after {len(seen)} pages)")
        seen.add(next_url)
        document, response_headers = fetch(next_url, headers)
        entries, cut = _tree_entries(document, next_url)
        out.extend(entries)
        truncated = truncated or cut
        link = response_headers.get("Link", "") if response_headers is not None else ""
        m = _LINK_NEXT.search(link)
        next_url = urljoin(next_url, m.group(1)) if m else None
    return out, truncated


def _with_query(url: str, query: str) -> str:
    return url + ("&" if "?" in url else "?") + query


def list_tree(fetch: Fetch, tree_url: str, headers: dict[str, str], prefix: str = "mappings/") -> list[str]:
    """Blob paths under ``prefix``; a truncated recursive listing is walked one level down."""
    base = tree_url.split("?")[0].rsplit("/", 1)[0]

    def walk(url: str, at: str, depth: int) -> list[str]:
        entries, truncated = _paged(fetch, _with_query(url, "recursive=1"), headers)
        if not truncated:
            return [at + e["path"] for e in entries if e["type"] == "blob"]
        if depth >= MAX_TREE_DEPTH:
            raise DiscoveryError(f"{url}: the listing is truncated even {depth} levels down")
        shallow, _ = _paged(fetch, url, headers)
        out = []
        for e in shallow:
            path = at + e["path"]
            if e["type"] == "blob":
                out.append(path)
            elif (
                e["type"] == "tree"
                and isinstance(e.get("sha"), str)
                and (prefix.startswith(path + "/") or path.startswith(prefix))
            ):
                out.extend(walk(f"{base}/{e['sha']}", path + "/", depth + 1))
        return out

    return [p for p in walk(tree_url, "", 0) if p.startswith(prefix)]


def mapping_files(paths: Sequence[str], frameworks: Sequence[str]) -> list[str]:
    wanted = {_norm(f) for f in frameworks}
    out = []
    for p in paths:
        parts = mapping_path_parts(p)
        if parts is not None and (not wanted or _norm(parts["framework"]) in wanted):
            out.append(p)
    return sorted(out)


# --------------------------------------------------------------------------- merging


def discover(
    pinned: Sequence[Any],
    upstream: Upstream,
    fetch: Fetch,
    *,
    mirror_root: str | None = None,
) -> Discovery:
    """The catalogue with what upstream lists now: new releases added, the chosen ATT&CK
    version per domain, withdrawn mapping files dropped.  A listing that cannot be read leaves
    its part of the catalogue as pinned, with a warning."""
    pins = {s.path: s for s in pinned}
    result = Discovery(sources=[])
    attack: list[Source] | None = None
    mappings: list[Source] | None = None
    index_url = upstream.attack_index_url
    tree_url = upstream.mappings_tree_url
    raw_base = upstream.mappings_raw_url
    if mirror_root is not None:
        index_url = _join(mirror_root, ATTACK_INDEX_FILE)
        tree_url = _join(mirror_root, MAPPINGS_TREE_FILE)
        raw_base = mirror_root.rstrip("/") + "/"
    api_headers = {"Accept": "application/vnd.github+json", "X-GitHub-Api-Version": "2022-11-28"}
    if upstream.token and mirror_root is None:
        api_headers["Authorization"] = f"Bearer {upstream.token}"

    if index_url:
        try:
            document, _ = fetch(index_url, {})
            attack = []
            for domain, version, url in attack_bundles(document, index_url, upstream.attack_version):
                path = f"attack/{domain}-attack-{version}.json"
                pin = pins.get(path)
                resolved = url if mirror_root is None else _join(mirror_root, url)
                attack.append(Source(path, resolved, pin.sha256 if pin else None))
        except DiscoveryError as exc:
            result.warnings.append(f"ATT&CK index: {exc}; using the pinned ATT&CK files")
            attack = None
    if tree_url:
        try:
            files = mapping_files(list_tree(fetch, tree_url, api_headers), upstream.frameworks)
            if not files:
                raise DiscoveryError(f"{tree_url}: lists no Mappings Explorer file")
            mappings = []
            for path in files:
                pin = pins.get(path)
                mappings.append(Source(path, _join(raw_base, path), pin.sha256 if pin else None))
        except DiscoveryError as exc:
            result.warnings.append(f"Mappings Explorer listing: {exc}; using the pinned mapping files")
            mappings = None

    listed = {s.path for s in (attack or []) + (mappings or [])}
    for source in pinned:
        if source.path.startswith("attack/") and attack is not None:
            continue  # the index decides which ATT&CK version each domain gets
        if source.path.startswith("mappings/") and mappings is not None:
            if source.path not in listed and _selected(source.path, upstream.frameworks):
                result.withdrawn.append(source.path)
            continue
        result.sources.append(source)
    for source in (attack or []) + (mappings or []):
        result.sources.append(source)
        if source.path not in pins:
            result.new.append(source.path)
    return result


def _selected(path: str, frameworks: Sequence[str]) -> bool:
    return bool(mapping_files([path], frameworks))


def _join(base: str, rel: str) -> str:
    if rel.startswith(("http://", "https://")) or Path(rel).is_absolute():
        return rel
    if base.startswith(("http://", "https://")):
        return base.rstrip("/") + "/" + rel.lstrip("/")
    return str(Path(base).expanduser() / rel)
