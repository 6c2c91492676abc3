"""What a message pays to know its channel's settings (``bench/http.py --settings``).

Every message reads its channel's settings (incident cards on/off, default frameworks); a
change must hold on the very next message on every worker and instance.  Timed in-process on a
temporary SQLite file and a temporary PostgreSQL database, in rounds that alternate the three:

- reference: ``SELECT 1`` on the driver through the pool (the floor of one statement),
- row read: the channel's row read through SQLAlchemy Core (what every message did),
- version check: ``CardPolicy``'s path, the settings' version read on the driver and the row
  served from the process's copy while the version stands (what every message does now).
"""

from __future__ import annotations

import contextlib
import statistics
import time
from collections.abc import Callable

ROUNDS = 5
CALLS = 2000


def _per_call_us(fn: Callable[[], object], calls: int) -> float:
    started = time.perf_counter()
    for _ in range(calls):
        fn()
    return (time.perf_counter() - started) / calls * 1e6


def measure(label: str, url: str) -> None:
    from bot.config import Settings
    from bot.slack.cards import CardPolicy
    from store.db import make_engine
    from store.migrate import upgrade
    from store.state.channels import channel_watch_and_frameworks, save_channel_settings

    engine = make_engine(url)
    upgrade(engine)
    save_channel_settings(
        engine,
        "T0BENCH",
        "C0BENCH",
        "U0BENCH",
        {"watch": True, "frameworks": ["aws"]},
        contextlib.nullcontext(),
    )
    policy = CardPolicy(engine, Settings())

    def reference() -> object:
        conn = engine.raw_connection()
        try:
            cur = conn.cursor()
            cur.execute("SELECT 1")
            return cur.fetchone()
        finally:
            conn.close()

    runs: dict[str, list[float]] = {"reference": [], "row read": [], "version check": []}
    fns: dict[str, Callable[[], object]] = {
        "reference": reference,
        "row read": lambda: channel_watch_and_frameworks(engine, "T0BENCH", "C0BENCH"),
        "version check": lambda: policy.channel_frameworks("T0BENCH", "C0BENCH"),
    }
    for fn in fns.values():  # warm up: pool, statement caches, the policy's copy
        _per_call_us(fn, 200)
    assert policy.channel_frameworks("T0BENCH", "C0BENCH") == ("aws",)
    for _ in range(ROUNDS):
        for name, fn in fns.items():
            runs[name].append(_per_call_us(fn, CALLS))
    engine.dispose()
    ref = statistics.median(runs["reference"])
    print(f"\n{label}: per call, median of {ROUNDS} rounds of {CALLS} (range)")
    for name, values in runs.items():
        med = statistics.median(values)
        print(
            f"  {name:<14}{med:>9.1f} us  ({min(values):.1f}-{max(values):.1f})"
            f"  {med / ref if ref else 0:>5.1f}x reference"
        )


def run(sqlite_path: str, postgres_url: str | None) -> None:
    import os

    load = os.getloadavg()
    print(f"machine: {os.cpu_count()} CPUs, load average {load[0]:.2f} {load[1]:.2f} {load[2]:.2f}")
    measure("SQLite", f"sqlite:///{sqlite_path}")
    if postgres_url:
        measure("PostgreSQL", postgres_url)
