"""Heartbeats of the long-running processes and ``countermap health``: each process's last beat,
the data version and the last sync; exit 1 when one is stale, 3 when the database cannot be read
(both backends)."""

from __future__ import annotations

import datetime as dt
import json
import logging
import time

import pytest
from sqlalchemy import Engine

from bot.cli import main
from bot.ops.heartbeat import Heartbeat
from store.state.heartbeats import PRUNE_AFTER, beat, forget, heartbeats


def _url(engine: Engine) -> str:
    return engine.url.render_as_string(hide_password=False)


def _health(engine: Engine, capsys: pytest.CaptureFixture[str], *extra: str) -> tuple[int, dict[str, object]]:
    code = main(["--db", _url(engine), "health", "--json", *extra])
    return code, json.loads(capsys.readouterr().out)


NOW = dt.datetime.now(dt.UTC)


def test_a_beat_is_one_row_per_instance_updated_in_place_and_forgotten_on_a_clean_stop(
    engine: Engine,
) -> None:
    beat(engine, "web", "host:1", NOW, {"data_version": "v1"}, now=NOW)
    beat(engine, "web", "host:1", NOW, {"data_version": "v2"}, now=NOW + dt.timedelta(seconds=30))
    beat(engine, "clock", "host:2", NOW, now=NOW)
    rows = heartbeats(engine)
    assert [(b.process, b.instance) for b in rows] == [("web", "host:1"), ("clock", "host:2")]
    assert rows[0].detail == {"data_version": "v2"} and rows[0].beat_at == NOW + dt.timedelta(seconds=30)
    forget(engine, "web", "host:1")
    assert [b.process for b in heartbeats(engine)] == ["clock"]


def test_rows_of_long_dead_instances_are_pruned(engine: Engine) -> None:
    beat(engine, "worker", "host:9", NOW - PRUNE_AFTER * 2, now=NOW - PRUNE_AFTER * 2)
    beat(engine, "worker", "host:10", NOW, now=NOW)
    assert [b.instance for b in heartbeats(engine)] == ["host:10"]


def test_health_is_ok_with_fresh_beats_and_names_the_data(
    engine: Engine, capsys: pytest.CaptureFixture[str]
) -> None:
    beat(engine, "web", "host:1", NOW, {"data_version": "v1"})
    beat(engine, "clock", "host:2", NOW)
    code, report = _health(engine, capsys)
    assert code == 0 and report["ok"] is True
    processes = report["processes"]
    assert isinstance(processes, dict)
    assert processes["web"]["status"] == "ok" and processes["web"]["instances"][0]["data_version"] == "v1"
    assert processes["worker"]["status"] == "missing"  # not expected: not a failure
    assert "data_version" in report and "last_sync_at" in report


def test_a_stale_process_fails_health(engine: Engine, capsys: pytest.CaptureFixture[str]) -> None:
    beat(engine, "web", "host:1", NOW)
    old = dt.datetime.now(dt.UTC) - dt.timedelta(seconds=600)
    beat(engine, "clock", "host:2", old, now=old)
    code, report = _health(engine, capsys)
    assert code == 1 and report["failing"] == ["clock"]
    assert main(["--db", _url(engine), "health"]) == 1
    assert "UNHEALTHY: clock" in capsys.readouterr().out


def test_an_expected_process_that_never_reported_fails_health(
    engine: Engine, capsys: pytest.CaptureFixture[str]
) -> None:
    beat(engine, "web", "host:1", NOW)
    assert _health(engine, capsys)[0] == 0
    code, report = _health(engine, capsys, "--expect", "web,worker")
    assert code == 1 and report["failing"] == ["worker"]


def test_no_heartbeat_at_all_is_unhealthy(engine: Engine, capsys: pytest.CaptureFixture[str]) -> None:
    code, report = _health(engine, capsys)
    assert code == 1 and report["ok"] is False


def test_an_unreachable_database_is_exit_3_in_one_line(capsys: pytest.CaptureFixture[str]) -> None:
    assert main(["--db", "postgresql://cm:hunter2@127.0.0.1:1/countermap", "health"]) == 3
    err = capsys.readouterr().err.strip()
    assert len(err.splitlines()) == 1 and "127.0.0.1:1/countermap" in err and "hunter2" not in err


def test_the_heartbeat_writes_on_start_and_removes_its_row_on_stop(engine: Engine) -> None:
    heart = Heartbeat(engine, "worker", interval=3600, detail=lambda: {"data_version": "v9"}).start()
    deadline = time.monotonic() + 30  # the first beat is written by the heartbeat's own thread
    while not heartbeats(engine) and time.monotonic() < deadline:
        time.sleep(0.02)
    rows = heartbeats(engine)
    assert [(b.process, b.detail) for b in rows] == [("worker", {"data_version": "v9"})]
    heart.stop()
    assert heartbeats(engine) == []


def test_a_heartbeat_that_cannot_write_says_so_once(caplog: pytest.LogCaptureFixture) -> None:
    from store.db import make_engine

    down = make_engine("postgresql://postgres@127.0.0.1:1/none", pool_pre_ping=False)
    heart = Heartbeat(down, "clock", interval=3600)
    with caplog.at_level(logging.WARNING, logger="bot.ops.heartbeat"):
        assert not heart.beat_once() and not heart.beat_once()
    assert len([r for r in caplog.records if "could not write the clock heartbeat" in r.getMessage()]) == 1
    down.dispose()
