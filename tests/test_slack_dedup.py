"""Delivery claims: exactly one claimant wins a key, however many threads or engines race."""

from __future__ import annotations

import datetime as dt
import subprocess
import sys
import textwrap
import threading
import time
from pathlib import Path

import pytest
from sqlalchemy import Engine, func, insert, select

from store.state.processed_events import Deduplicator, request_key
from tests.conftest import PROJECT_ROOT


def test_concurrent_claims_of_one_key_have_one_winner(engine: Engine) -> None:
    from store.db import make_engine

    second = make_engine(engine.url.render_as_string(hide_password=False))  # as another process would
    dedups = [Deduplicator(engine), Deduplicator(second)]
    barrier = threading.Barrier(16)
    wins: list[list[bool]] = []
    lock = threading.Lock()

    def claim(i: int) -> None:
        barrier.wait()
        result = dedups[i % 2].claim([("Ev-race", "T1"), (f"rq:{i}", "T1")])
        with lock:
            wins.append(result)

    threads = [threading.Thread(target=claim, args=(i,)) for i in range(16)]
    for t in threads:
        t.start()
    for t in threads:
        t.join(timeout=30)
    second.dispose()
    assert len(wins) == 16
    assert sum(w[0] for w in wins) == 1  # the shared event ID: one winner
    assert all(w[1] for w in wins)  # each thread's own key: always first seen


def test_request_keys_fit_the_column_and_differ_per_signature() -> None:
    a = request_key("v0=" + "a" * 64)
    assert a.startswith("rq:") and len(a) <= 100
    assert a != request_key("v0=" + "b" * 64)


def test_a_key_is_refused_again_in_this_process_and_by_another(engine: Engine) -> None:
    from store.db import make_engine

    here = Deduplicator(engine)
    assert here.claim([("rq:once", "T1"), ("Ev-once", "T1")]) == [True, True]
    assert here.claim([("rq:once", "T1")]) == [False]  # remembered in this process
    assert here.claim([("rq:other", "T1"), ("Ev-once", "T1")]) == [True, False]
    elsewhere = make_engine(engine.url.render_as_string(hide_password=False))
    try:
        there = Deduplicator(elsewhere)  # knows nothing in memory: the database refuses
        assert there.claim([("rq:once", "T1"), ("Ev-once", "T1"), ("rq:new", "T1")]) == [False, False, True]
        there.close()
    finally:
        elsewhere.dispose()
    here.close()


def test_claimed_keys_are_pruned_after_their_window_only(
    engine: Engine, monkeypatch: pytest.MonkeyPatch
) -> None:
    """The claim statement writes received_at as the ORM does, so pruning compares it right."""
    import store.state.processed_events as dedup
    from store.app_state import ProcessedEvent

    d = Deduplicator(engine)
    d.claim([("rq:old", "T1"), ("Ev-kept", "T1")])
    assert d.prune() == 0  # nothing is past its window yet
    monkeypatch.setattr(dedup, "REQUEST_KEY_SECONDS", -5)  # every request key is now "old"
    assert d.prune() == 1
    with engine.connect() as conn:
        left = conn.execute(select(ProcessedEvent.event_id, ProcessedEvent.received_at)).all()
    assert [row.event_id for row in left] == ["Ev-kept"]
    received = left[0].received_at
    now = dt.datetime.now(dt.UTC)
    assert abs((received.replace(tzinfo=received.tzinfo or dt.UTC) - now).total_seconds()) < 60
    d.close()


def test_a_broken_claim_connection_fails_that_claim_only(engine: Engine) -> None:
    d = Deduplicator(engine)
    assert d.claim([("rq:before", "T1")]) == [True]
    d._conn.dbapi_connection.close()  # the database went away under the kept connection
    with pytest.raises(Exception):  # noqa: B017  # the guard logs it and lets the request through
        d.claim([("rq:during", "T1")])
    assert d.claim([("rq:after", "T1"), ("rq:before", "T1")]) == [True, False]
    d.close()


def test_a_claim_held_up_by_another_writer_gives_up_within_its_budget(engine: Engine) -> None:
    """Another connection holds the lock the claim needs (SQLite: the database's write lock;
    PostgreSQL: the row of the same key, inserted and not committed): the claim says it cannot
    tell, well inside Slack's 3-second ack, and works again once the other writer is done."""
    from store.app_state import ProcessedEvent
    from store.state.processed_events import GUARD_WAIT_SECONDS, GuardUnavailable

    d = Deduplicator(engine)
    assert d.claim([("rq:warm", "T1")]) == [True]  # the claim connection is open
    holder = engine.connect().execution_options(sqlite_immediate=True)  # SQLite: BEGIN IMMEDIATE
    holder.begin()
    try:
        if engine.dialect.name == "postgresql":
            holder.execute(
                insert(ProcessedEvent).values(event_id="Ev-held", team_id="T1", received_at=func.now())
            )
        started = time.monotonic()
        with pytest.raises(GuardUnavailable) as unavailable:
            d.claim([("Ev-held", "T1")])
        waited = time.monotonic() - started
    finally:
        holder.rollback()
        holder.close()
    assert waited < GUARD_WAIT_SECONDS + 0.5  # the budget, and a GIL hand-off or two
    assert unavailable.value.seen_here == [False]
    d.forget([("Ev-held", "T1")])  # the app refused the delivery: it was not handled
    assert d.claim([("Ev-held", "T1")]) == [True]
    d.close()


def test_keys_handled_unchecked_are_written_once_the_database_answers(engine: Engine) -> None:
    from store.db import make_engine

    d = Deduplicator(engine)
    d.record_later([("Ev-later", "T1"), ("rq:later", "T1")])
    other = Deduplicator(make_engine(engine.url.render_as_string(hide_password=False)))
    deadline = time.monotonic() + 10
    while other.claim([("Ev-later", "T1")]) != [False]:  # another instance: refused from the row
        other.forget([("Ev-later", "T1")])
        assert time.monotonic() < deadline, "never recorded"
        time.sleep(0.05)
    other.engine.dispose()
    d.close()


def test_sqlite_writers_in_different_processes_take_turns(tmp_path: Path) -> None:
    """The write lock holds across processes (an flock beside the database file)."""
    from store.db import make_engine
    from store.state.processed_events import process_write_lock

    url = f"sqlite:///{tmp_path / 'locks.db'}"
    holder = subprocess.Popen(
        [sys.executable, "-c", textwrap.dedent(f"""
            import sys, time
            sys.path.insert(0, {str(PROJECT_ROOT)!r})
            from store.state.processed_events import process_write_lock
            from store.db import make_engine
            with process_write_lock(make_engine({url!r})):
                print("held", flush=True)
                time.sleep(0.6)
        """)],
        stdout=subprocess.PIPE,
        text=True,
    )  # fmt: skip
    try:
        assert holder.stdout is not None and holder.stdout.readline().strip() == "held"
        engine = make_engine(url)
        started = time.monotonic()
        with process_write_lock(engine):
            waited = time.monotonic() - started
        engine.dispose()
    finally:
        holder.wait(timeout=30)
    assert waited > 0.3
    assert (tmp_path / "locks.db-cmlock").exists()


def test_sqlite_claims_leave_wal_checkpoints_to_a_background_thread(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    import store.state.processed_events as dedup
    from store.db import make_engine
    from store.migrate import upgrade

    engine = make_engine(f"sqlite:///{tmp_path / 'wal.db'}")
    upgrade(engine)
    monkeypatch.setattr(dedup, "CHECKPOINT_SECONDS", 0.05)
    d = Deduplicator(engine)
    results: list[tuple[int, int, int]] = []
    real = d._checkpoint

    def spy() -> tuple[int, int, int]:
        results.append(real())
        return results[-1]

    d._checkpoint = spy  # type: ignore[method-assign]
    d.claim([(f"rq:{i}", "T1") for i in range(50)])
    kept = d._conn.dbapi_connection
    assert kept.execute("PRAGMA wal_autocheckpoint").fetchone()[0] == 0  # no checkpoint in an ack
    deadline = time.monotonic() + 5
    while not results and time.monotonic() < deadline:
        time.sleep(0.02)
    assert results and results[0][1] == results[0][2] > 0  # the whole log copied, off the request
    d.close()
    assert d._checkpointer is not None
    d._checkpointer.join(timeout=5)
    assert not d._checkpointer.is_alive()
    assert kept.execute("PRAGMA wal_autocheckpoint").fetchone()[0] == 1000  # pooled as it came
    engine.dispose()
