"""Every sync run is bounded: a server's long Retry-After, a redirect loop and a past deadline
end in a clear SyncError with nothing changed, rather than a wait or a traceback."""

from __future__ import annotations

import time
from pathlib import Path

import httpx
import pytest
import yaml
from sqlalchemy import Engine

from store.sync import Budget, SyncError, sync_sources

URL = "http://127.0.0.1:9/mappings/kev/attack-16.1/kev-x/mobile/kev-x_attack-16.1-mobile.json"


def catalogue(tmp_path: Path) -> Path:
    path = tmp_path / "sources.yaml"
    path.write_text(yaml.safe_dump({"sources": [{"path": URL.split(":9/", 1)[1], "url": URL}]}))
    return path


def run(engine: Engine, tmp_path: Path, handler: object, budget: Budget | None = None) -> None:
    sync_sources(
        engine,
        sources_file=catalogue(tmp_path),
        retries=3,
        backoff=0.01,
        transport=httpx.MockTransport(handler),  # type: ignore[arg-type]
        budget=budget,
    )


def test_a_retry_after_beyond_the_cap_fails_at_once(engine: Engine, tmp_path: Path) -> None:
    started = time.monotonic()
    with pytest.raises(SyncError, match="retry after 100,000 s, over the 60 s cap"):
        run(engine, tmp_path, lambda request: httpx.Response(429, headers={"Retry-After": "100000"}))
    assert time.monotonic() - started < 10


def test_a_redirect_loop_is_a_clean_error(engine: Engine, tmp_path: Path) -> None:
    with pytest.raises(SyncError, match="too many redirects"):
        run(engine, tmp_path, lambda request: httpx.Response(302, headers={"Location": URL}))


def test_a_run_past_its_deadline_stops_retrying(engine: Engine, tmp_path: Path) -> None:
    budget = Budget(seconds=0.5)
    with pytest.raises(SyncError, match="deadline"):
        run(engine, tmp_path, lambda request: httpx.Response(503, headers={"Retry-After": "1"}), budget)
