"""How syncs and digests went, where an operator looks: every ``countermap sync`` run's result is
recorded in the database (cron leaves no process behind), so ``countermap health`` and every
server's ``/metrics`` show it from any host; the digest clock counts posts, failures and
recoveries and serves its own ``/metrics`` port when configured."""

from __future__ import annotations

import datetime as dt
import json
import signal
import subprocess
import sys
import time
from pathlib import Path

import pytest
from sqlalchemy import Engine

from bot.cli import main
from bot.digest.runner import PassReport, _count
from bot.ops.metrics import database_freshness, exposition
from store.state.heartbeats import beat, heartbeats, sync_results
from tests.fake_upstream import FakeUpstream
from tests.serve_helpers import PROJECT_ROOT, clean_env, free_port, request
from tests.test_ops_metrics import samples, scrape, value
from tests.test_sync_discovery import KEV_MOBILE


def sync_cli(url: str, sources: Path, *extra: str) -> int:
    return main(
        ["--db", url, "sync", "-q", "--sources", str(sources), "--no-discover", "--retries", "0", *extra]
    )


def catalogue(tmp_path: Path, url: str) -> Path:
    path = tmp_path / "sources.yaml"
    path.write_text(f"sources:\n  - path: {KEV_MOBILE}\n    url: {url}\n")
    return path


def test_each_sync_result_is_recorded_and_scraped_from_the_database(
    engine: Engine, tmp_path: Path, corpus_dir: Path
) -> None:
    url = str(engine.url.render_as_string(hide_password=False))
    with FakeUpstream() as up:
        up.files[KEV_MOBILE] = (corpus_dir / KEV_MOBILE).read_bytes()
        sources = catalogue(tmp_path, up.raw_url + KEV_MOBILE)
        assert sync_cli(url, sources) == 0  # loads it
        assert sync_cli(url, sources) == 0  # 304: nothing changed
        del up.files[KEV_MOBILE]
        assert sync_cli(url, catalogue(tmp_path, up.raw_url + "mappings/gone.json")) == 1

    results = sync_results(engine)
    assert set(results) == {"changed", "unchanged", "failed"}
    assert "404" in results["failed"].detail["error"]
    assert "1 downloaded" in results["changed"].detail["summary"]
    assert results["failed"].beat_at >= results["unchanged"].beat_at >= results["changed"].beat_at

    snap = samples(exposition(lambda: database_freshness(engine))[0].decode())
    for result in ("changed", "unchanged", "failed"):
        at = value(snap, "countermap_sync_result_timestamp_seconds", result=result)
        assert at == pytest.approx(results[result].beat_at.timestamp())
    assert value(snap, "countermap_sync_failing") == 1
    assert value(snap, "countermap_data_age_seconds") < 3600


def test_sync_results_are_not_processes_and_are_never_pruned(engine: Engine) -> None:
    from store.state.heartbeats import record_sync_result

    long_ago = dt.datetime.now(dt.UTC) - dt.timedelta(days=30)
    record_sync_result(engine, "unchanged", {"summary": "x"}, now=long_ago)
    beat(engine, "clock", "h:1", dt.datetime.now(dt.UTC))  # a writer that prunes dead rows
    assert heartbeats(engine) and all(b.process == "clock" for b in heartbeats(engine))
    assert sync_results(engine)["unchanged"].beat_at == long_ago


def test_health_reports_the_sync_runs_without_calling_them_stale(
    engine: Engine, capsys: pytest.CaptureFixture[str]
) -> None:
    from store.state.heartbeats import record_sync_result

    url = str(engine.url.render_as_string(hide_password=False))
    record_sync_result(
        engine, "failed", {"error": "HTTP 404"}, now=dt.datetime.now(dt.UTC) - dt.timedelta(hours=3)
    )
    beat(engine, "clock", "h:1", dt.datetime.now(dt.UTC))
    assert main(["--db", url, "health", "--json"]) == 0
    report = json.loads(capsys.readouterr().out)
    assert "sync" not in report["processes"]
    assert report["sync_runs"]["failed"]["error"] == "HTTP 404"
    assert 3 * 3600 - 60 < report["sync_runs"]["failed"]["age_seconds"] < 3 * 3600 + 60
    assert main(["--db", url, "health"]) == 0
    assert "sync    last run failed" in capsys.readouterr().out


def test_a_digest_pass_counts_posts_failures_and_recoveries() -> None:
    before = scrape()
    _count(PassReport(sent=3, recovered=1, retry=2, failed=1))
    after = scrape()

    def grew(name: str, **labels: str) -> float:
        return value(after, name, **labels) - value(before, name, **labels)

    assert grew("countermap_digest_posts_total") == 3
    assert grew("countermap_digest_recoveries_total") == 1
    assert grew("countermap_digest_failures_total", outcome="retry") == 2
    assert grew("countermap_digest_failures_total", outcome="failed") == 1


def test_the_digest_clock_serves_its_metrics_port(corpus_url: str, tmp_path: Path) -> None:
    port = free_port()
    env = clean_env(
        DATABASE_URL=corpus_url, COUNTERMAP_METRICS_PORT=str(port), COUNTERMAP_DIGEST_POLL_SECONDS="1"
    )
    env.pop("PROMETHEUS_MULTIPROC_DIR", None)
    log = tmp_path / "clock.log"
    with log.open("w") as out:
        proc = subprocess.Popen(
            [sys.executable, "-c", "import sys; from bot.cli import main; sys.exit(main())", "digest", "run"],
            cwd=PROJECT_ROOT, env=env, stdout=out, stderr=subprocess.STDOUT,
        )  # fmt: skip
    try:
        deadline = time.monotonic() + 60
        snap: dict[tuple[str, tuple[tuple[str, str], ...]], float] = {}
        while time.monotonic() < deadline:
            assert proc.poll() is None, log.read_text()
            try:
                reply = request(f"http://127.0.0.1:{port}/metrics")
            except OSError:
                time.sleep(0.1)
                continue
            snap = samples(reply.text)
            break
        assert value(snap, "countermap_database_up") == 1, log.read_text()
        assert ("countermap_digest_posts_total", ()) in snap
        assert value(snap, "countermap_data_age_seconds") > 0
    finally:
        proc.send_signal(signal.SIGTERM)
        assert proc.wait(timeout=30) == 0, log.read_text()
