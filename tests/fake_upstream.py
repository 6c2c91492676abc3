"""A fake of the two upstream listings on 127.0.0.1, shaped like the real ones.

- ``/attack-stix-data/index.json``: attack-stix-data's collection index (``collections`` →
  ``versions`` with ``version``, ``url``, ``modified``), URLs pointing at
  ``/attack-stix-data/<domain>-attack/<domain>-attack-<version>.json`` as upstream does;
- ``/api/repos/org/mappings-explorer/git/trees/<sha>``: the Git trees API (``tree`` entries with
  ``path``, ``type``, ``sha``; ``?recursive=1``; ``truncated``), optionally paginated with
  ``Link: <...>; rel="next"``, truncated, corrupt, or rate-limited (403 with
  ``X-RateLimit-Remaining: 0`` and ``X-RateLimit-Reset``);
- ``/raw/main/<path>``: the files themselves.

Files live in ``files`` (repository path → bytes) and ATT&CK bundles in ``bundles``
(domain → {version: bytes}); tests add and remove entries between syncs.
"""

from __future__ import annotations

import hashlib
import json
import threading
import time
from collections import Counter
from dataclasses import dataclass, field
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from typing import Any
from urllib.parse import parse_qs, urlsplit

TREE_PREFIX = "/api/repos/org/mappings-explorer/git/trees/"


@dataclass
class Upstream:
    files: dict[str, bytes] = field(default_factory=dict)
    bundles: dict[str, dict[str, bytes]] = field(default_factory=dict)
    tree_mode: str = "normal"  # normal | paginated | truncated | corrupt | rate_limited
    index_mode: str = "normal"  # normal | corrupt
    rate_limit_reset_in: int = 3600
    rate_limited_left: int | None = None  # rate-limited answers before normal ones (None: all)
    page_size: int = 2
    requests: Counter[str] = field(default_factory=Counter)
    base_url: str = ""

    @property
    def index_url(self) -> str:
        return f"{self.base_url}/attack-stix-data/index.json"

    @property
    def tree_url(self) -> str:
        return f"{self.base_url}{TREE_PREFIX}main"

    @property
    def raw_url(self) -> str:
        return f"{self.base_url}/raw/main/"

    # ---------------------------------------------------------------- documents

    def index(self) -> dict[str, Any]:
        names = {"enterprise": "Enterprise ATT&CK", "mobile": "Mobile ATT&CK", "ics": "ICS ATT&CK"}
        return {
            "id": "fake",
            "name": "MITRE ATT&CK",
            "collections": [
                {
                    "id": f"x-mitre-collection--{domain}",
                    "name": names[domain],
                    "versions": [
                        {
                            "version": v,
                            "url": f"{self.base_url}/attack-stix-data/{domain}-attack/"
                            f"{domain}-attack-{v}.json",
                            "modified": "2025-01-01T00:00:00.000Z",
                        }
                        for v in versions
                    ],
                }
                for domain, versions in sorted(self.bundles.items())
            ],
        }

    def _sha(self, path: str) -> str:
        return hashlib.sha1(path.encode()).hexdigest()

    def tree(self, sha: str, recursive: bool) -> dict[str, Any]:
        """The tree at ``sha`` ('main' or a folder's sha): blobs and folders below it."""
        prefix = (
            "" if sha == "main" else next((d + "/" for d in self._folders() if self._sha(d) == sha), None)
        )
        if prefix is None:
            return {"message": "Not Found"}
        entries: list[dict[str, Any]] = []
        for d in sorted(self._folders()):
            if d.startswith(prefix) and (recursive or "/" not in d[len(prefix) :]):
                entries.append(
                    {"path": d[len(prefix) :], "type": "tree", "sha": self._sha(d), "mode": "040000"}
                )
        for p, body in sorted(self.files.items()):
            if p.startswith(prefix) and (recursive or "/" not in p[len(prefix) :]):
                entries.append(
                    {"path": p[len(prefix) :], "type": "blob", "sha": self._sha(p), "size": len(body)}
                )
        return {"sha": sha, "tree": entries, "truncated": False}

    def _folders(self) -> set[str]:
        out: set[str] = set()
        for p in self.files:
            parts = p.split("/")[:-1]
            out.update("/".join(parts[: i + 1]) for i in range(len(parts)))
        return out


def _handler(up: Upstream) -> type[BaseHTTPRequestHandler]:
    class Handler(BaseHTTPRequestHandler):
        protocol_version = "HTTP/1.1"

        def log_message(self, format: str, *args: Any) -> None:
            pass

        def _send(self, status: int, body: bytes, headers: dict[str, str] | None = None) -> None:
            self.send_response(status)
            self.send_header("Content-Length", str(len(body)))
            for k, v in (headers or {}).items():
                self.send_header(k, v)
            self.end_headers()
            self.wfile.write(body)

        def _file(self, body: bytes | None) -> None:
            """A file as raw.githubusercontent.com serves one: with an ETag, 304 when it matches."""
            if body is None:
                self._send(404, b"404: Not Found")
                return
            etag = '"' + hashlib.sha256(body).hexdigest()[:32] + '"'
            if self.headers.get("If-None-Match") == etag:
                self._send(304, b"", {"ETag": etag})
                return
            self._send(200, body, {"ETag": etag, "Content-Type": "text/plain; charset=utf-8"})

        def do_GET(self) -> None:
            url = urlsplit(self.path)
            query = parse_qs(url.query)
            up.requests[url.path] += 1
            if url.path == "/attack-stix-data/index.json":
                if up.index_mode == "corrupt":
                    self._send(200, b'{"collections": [{"versions": "nope"')
                    return
                self._send(200, json.dumps(up.index()).encode())
                return
            if url.path.startswith("/attack-stix-data/"):
                name = url.path.rsplit("/", 1)[1]
                domain, _, version = name.removesuffix(".json").partition("-attack-")
                self._file(up.bundles.get(domain, {}).get(version))
                return
            if url.path.startswith(TREE_PREFIX):
                self._tree(url.path[len(TREE_PREFIX) :], query)
                return
            if url.path.startswith("/raw/main/"):
                self._file(up.files.get(url.path[len("/raw/main/") :]))
                return
            self._send(404, b"Not Found")

        def _tree(self, sha: str, query: dict[str, list[str]]) -> None:
            if up.tree_mode == "rate_limited" and up.rate_limited_left != 0:
                if up.rate_limited_left is not None:
                    up.rate_limited_left -= 1
                reset = int(time.time()) + up.rate_limit_reset_in
                body = json.dumps({"message": "API rate limit exceeded for 127.0.0.1."}).encode()
                self._send(403, body, {
                    "X-RateLimit-Limit": "60", "X-RateLimit-Remaining": "0",
                    "X-RateLimit-Reset": str(reset), "Content-Type": "application/json",
                })  # fmt: skip
                return
            if up.tree_mode == "corrupt":
                self._send(200, b'{"sha": "main", "tree": [{"path": 7}]}')
                return
            recursive = query.get("recursive", ["0"])[0] not in ("0", "false", "")
            document = up.tree(sha, recursive)
            if "tree" not in document:
                self._send(404, json.dumps(document).encode())
                return
            if up.tree_mode == "truncated" and sha == "main" and recursive:
                document["tree"] = document["tree"][:1]
                document["truncated"] = True
            headers: dict[str, str] = {}
            if up.tree_mode == "paginated":
                page = int(query.get("page", ["1"])[0])
                entries = document["tree"]
                start = (page - 1) * up.page_size
                document["tree"] = entries[start : start + up.page_size]
                if start + up.page_size < len(entries):
                    flag = "&recursive=1" if recursive else ""
                    headers["Link"] = f'<{up.base_url}{TREE_PREFIX}{sha}?page={page + 1}{flag}>; rel="next"'
            self._send(200, json.dumps(document).encode(), headers)

    return Handler


class FakeUpstream:
    """``with FakeUpstream() as up:`` serves ``up`` (an ``Upstream``) on 127.0.0.1."""

    def __init__(self) -> None:
        self.state = Upstream()
        self._httpd = ThreadingHTTPServer(("127.0.0.1", 0), _handler(self.state))
        self.state.base_url = f"http://127.0.0.1:{self._httpd.server_address[1]}"
        self._thread = threading.Thread(target=self._httpd.serve_forever, daemon=True)

    def __enter__(self) -> Upstream:
        self._thread.start()
        return self.state

    def __exit__(self, *exc: object) -> None:
        self._httpd.shutdown()
        self._httpd.server_close()
