"""countermap sync against real HTTP servers on 127.0.0.1: one serving ../shared, and ones
that drop connections, answer 500, cut a download short or serve a corrupt file."""

from __future__ import annotations

import threading
from collections import Counter
from collections.abc import Iterator
from dataclasses import dataclass, field
from http.server import SimpleHTTPRequestHandler, ThreadingHTTPServer
from pathlib import Path
from typing import Any

import pytest
import yaml
from sqlalchemy import Engine, func, select

from bot.cli import main as cli_main
from bot.config import Settings
from store.app_state import SourceCache, SyncRun
from store.models import AttackBundle, Release
from store.sync import SyncError, load_sources, sync_sources
from tests.test_store_ingest import snapshot

SUBSET = [
    "mappings/m365/attack-14.1/m365-12.11.2023/enterprise/m365-12.11.2023_attack-14.1-enterprise.json",
    "mappings/kev/attack-16.1/kev-07.28.2025/mobile/kev-07.28.2025_attack-16.1-mobile.json",
    "attack/ics-attack-18.1.json",
    "capability-descriptions/nist-rev4_descriptions.json",
]


@dataclass
class Behaviour:
    mode: str = "normal"  # normal | drop_first | error500 | corrupt | partial
    target: str = ""  # path the failure applies to ("" = every path)
    requests: Counter[tuple[str, int]] = field(default_factory=Counter)
    seen: Counter[str] = field(default_factory=Counter)


def _handler(root: Path, behaviour: Behaviour) -> type[SimpleHTTPRequestHandler]:
    class Handler(SimpleHTTPRequestHandler):
        def __init__(self, *args: Any, **kwargs: Any) -> None:
            super().__init__(*args, directory=str(root), **kwargs)

        def log_message(self, format: str, *args: Any) -> None:
            pass

        def send_response(self, code: int, message: str | None = None) -> None:
            behaviour.requests[(self.path, code)] += 1
            super().send_response(code, message)

        def do_GET(self) -> None:
            behaviour.seen[self.path] += 1
            hit = not behaviour.target or self.path.endswith(behaviour.target)
            if hit and behaviour.mode == "drop_first" and behaviour.seen[self.path] == 1:
                self.close_connection = True
                return
            if hit and behaviour.mode == "error500":
                self.send_error(500, "boom")
                return
            if hit and behaviour.mode in ("corrupt", "partial"):
                body = (root / self.path.lstrip("/")).read_bytes()
                self.send_response(200)
                self.send_header("Content-Type", "application/json")
                cut = body[: len(body) // 2]
                self.send_header(
                    "Content-Length", str(len(body) if behaviour.mode == "partial" else len(cut))
                )
                self.end_headers()
                self.wfile.write(cut)
                self.close_connection = True
                return
            super().do_GET()

    return Handler


@pytest.fixture
def behaviour() -> Behaviour:
    return Behaviour()


@pytest.fixture
def server(corpus_dir: Path, behaviour: Behaviour) -> Iterator[str]:
    httpd = ThreadingHTTPServer(("127.0.0.1", 0), _handler(corpus_dir, behaviour))
    thread = threading.Thread(target=httpd.serve_forever, daemon=True)
    thread.start()
    try:
        yield f"http://127.0.0.1:{httpd.server_address[1]}"
    finally:
        httpd.shutdown()
        httpd.server_close()


def _catalogue(tmp_path: Path, base: str | None, paths: list[str] = SUBSET, **extra: Any) -> Path:
    entries = []
    for p in paths:
        entry: dict[str, Any] = {"path": p}
        if base:
            entry["url"] = f"{base}/{p}"
        entry.update(extra.get(p, {}))
        entries.append(entry)
    path = tmp_path / "sources.yaml"
    path.write_text(yaml.safe_dump({"sources": entries}))
    return path


def _sync(engine: Engine, catalogue: Path, **kwargs: Any) -> Any:
    kwargs.setdefault("retries", 2)
    return sync_sources(engine, sources_file=catalogue, timeout=10, backoff=0.01, **kwargs)


def test_sync_downloads_every_source_and_ingests_it(engine: Engine, server: str, tmp_path: Path) -> None:
    result = _sync(engine, _catalogue(tmp_path, server))
    assert sorted(result.downloaded) == sorted(SUBSET)
    with engine.connect() as conn:
        files = set(conn.scalars(select(Release.source_file)))
        domains = set(conn.scalars(select(AttackBundle.domain)))
        runs = conn.execute(select(SyncRun.kind, SyncRun.releases_changed)).all()
        cached = conn.scalar(select(func.count()).select_from(SourceCache))
    assert files == {f"{server}/{p}" for p in SUBSET[:2]}  # the release remembers where it came from
    assert domains == {"ics"}
    assert [r.kind for r in runs] == ["sync"] and len(runs[0].releases_changed) == 2
    assert cached == len(SUBSET)


def test_a_second_sync_downloads_nothing_and_records_no_change(
    engine: Engine, server: str, tmp_path: Path, behaviour: Behaviour
) -> None:
    catalogue = _catalogue(tmp_path, server)
    _sync(engine, catalogue)
    behaviour.requests.clear()
    result = _sync(engine, catalogue)
    assert sorted(result.not_modified) == sorted(SUBSET) and result.downloaded == []
    assert {code for _, code in behaviour.requests} == {304}
    with engine.connect() as conn:
        assert conn.scalar(select(func.count()).select_from(SyncRun)) == 1


def test_dropped_connections_are_retried(
    engine: Engine, server: str, tmp_path: Path, behaviour: Behaviour
) -> None:
    behaviour.mode = "drop_first"
    result = _sync(engine, _catalogue(tmp_path, server))
    assert sorted(result.downloaded) == sorted(SUBSET)
    assert all(n == 2 for n in behaviour.seen.values())


@pytest.mark.parametrize(
    ("mode", "reason"),
    [
        ("error500", "HTTP 500 (after 3 attempts)"),
        ("partial", "attempts"),  # cut short while the length promised more
        ("corrupt", "invalid JSON"),
    ],
)
def test_a_failed_download_changes_nothing(
    engine: Engine, server: str, tmp_path: Path, behaviour: Behaviour, mode: str, reason: str
) -> None:
    behaviour.mode, behaviour.target = mode, SUBSET[0]
    before = snapshot(engine)
    with pytest.raises(SyncError) as err:
        _sync(engine, _catalogue(tmp_path, server))
    assert f"{server}/{SUBSET[0]}" in str(err.value) and reason in str(err.value)
    assert snapshot(engine) == before
    if mode != "corrupt":
        assert behaviour.seen[f"/{SUBSET[0]}"] == 3  # first try and two retries


def test_a_file_that_differs_from_its_pinned_sha256_is_refused(
    engine: Engine, server: str, tmp_path: Path
) -> None:
    catalogue = _catalogue(tmp_path, server, **{SUBSET[1]: {"sha256": "0" * 64}})
    before = snapshot(engine)
    with pytest.raises(SyncError, match="is not the pinned"):
        _sync(engine, catalogue)
    assert snapshot(engine) == before


def test_mirror_url_and_mirror_folder_have_the_official_layout(
    database_url: str, server: str, tmp_path: Path, corpus_dir: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    catalogue = _catalogue(tmp_path, None)  # no upstream URLs: a mirror is needed
    base = ["--db", database_url, "sync", "--sources", str(catalogue), "--retries", "1"]
    assert cli_main([*base, "--mirror", server]) == 0
    assert "4 downloaded" in capsys.readouterr().out
    assert cli_main([*base, "--mirror", str(corpus_dir)]) == 0
    out = capsys.readouterr().out
    assert "4 downloaded" in out and "0 file(s) loaded, 4 unchanged" in out


def test_sync_without_a_mirror_skips_sources_that_have_no_url(engine: Engine, tmp_path: Path) -> None:
    result = _sync(engine, _catalogue(tmp_path, None))
    assert sorted(result.skipped) == sorted(SUBSET) and result.ingest is None


def test_the_shipped_catalogue_lists_every_official_file_in_its_layout(corpus_dir: Path) -> None:
    sources = load_sources(Settings().sources_file)
    listed = {s.path for s in sources}
    on_disk = {
        p.relative_to(corpus_dir).as_posix()
        for folder in ("mappings", "attack", "capability-descriptions")
        for p in (corpus_dir / folder).rglob("*.json")
    }
    assert listed == on_disk
    for s in sources:
        if s.path.startswith("mappings/"):
            assert s.url and s.url.endswith("/mappings-explorer/main/" + s.path)
        elif s.path.startswith("attack/"):
            assert s.url and s.url.startswith(
                "https://raw.githubusercontent.com/mitre-attack/attack-stix-data/"
            )


@pytest.mark.parametrize(
    "entry",
    [
        {"path": "../etc/passwd"},
        {"path": "/abs.json"},
        {"path": "a.json", "url": "ftp://x"},
        {"path": "a", "sha256": "xyz"},
    ],
)
def test_a_bad_catalogue_entry_is_refused(tmp_path: Path, entry: dict[str, str]) -> None:
    path = tmp_path / "s.yaml"
    path.write_text(yaml.safe_dump({"sources": [entry]}))
    with pytest.raises(SyncError, match=r"sources\[0\]"):
        load_sources(path)
