"""Delivery claims: exactly one claimant wins a key, however many threads or engines race."""

from __future__ import annotations

import threading

from sqlalchemy import Engine

from bot.slack.dedup import Deduplicator, request_key


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
