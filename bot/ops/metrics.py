"""Prometheus metrics, multi-process aware.

Under gunicorn every worker is its own process: with ``PROMETHEUS_MULTIPROC_DIR`` set before the
workers start (``serve --http`` makes a private one when it is not set), each process writes its
values to files there and ``/metrics`` adds them up, so a scrape sees the whole server whichever
worker answers it; gunicorn's ``child_exit`` hook marks a dead worker's files.  A digest clock or
``countermap sync`` on the same host that shares the folder shows up in the same scrape; elsewhere
they serve their own port (``metrics_port``).

``prometheus_client`` costs ~0.3 s to import here, so nothing is imported until a process that
serves records its first value: ``countermap ask`` never pays it.
"""

from __future__ import annotations

import contextlib
import os
import shutil
import tempfile
import threading
import time
from collections.abc import Callable, Iterable, Iterator, Mapping
from dataclasses import dataclass, field
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from typing import Any

from store.state.freshness import data_times
from store.state.heartbeats import sync_results

MULTIPROC_ENV = "PROMETHEUS_MULTIPROC_DIR"
# Slack waits 3 s for an ack; the buckets resolve the fast path and the edge of the limit.
ACK_BUCKETS = (0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1.0, 2.0, 3.0, 5.0)


class _Metrics:
    def __init__(self) -> None:
        from prometheus_client import Counter, Gauge, Histogram

        self.requests = Counter(
            "countermap_requests", "Slack requests handled, by surface and HTTP status", ["surface", "status"]
        )
        self.ack_seconds = Histogram(
            "countermap_ack_seconds", "Time to acknowledge a Slack request", ["surface"], buckets=ACK_BUCKETS
        )
        self.answers = Counter("countermap_answers", "Questions answered, by intent", ["intent", "surface"])
        self.unanswered = Counter(
            "countermap_unanswered_questions", "Questions where nothing was recognised", ["surface"]
        )
        self.digest_posts = Counter("countermap_digest_posts", "Digests posted to their channel")
        self.digest_failures = Counter(
            "countermap_digest_failures", "Digest posts that failed (retry: tried again later)", ["outcome"]
        )
        self.digest_recoveries = Counter(
            "countermap_digest_recoveries", "Digests found already posted by a claimer that died or failed"
        )
        self.sync_runs = Counter("countermap_sync_runs", "countermap sync runs, by result", ["result"])
        self.sync_last = Gauge(
            "countermap_sync_last_run_timestamp_seconds",
            "When countermap sync last finished, by result",
            ["result"],
            multiprocess_mode="max",
        )
        self._children: dict[tuple[Any, ...], Any] = {}

    def child(self, metric: Any, *labels: str) -> Any:
        """The labelled child, cached: ``labels()`` costs a lock and a dict build per call."""
        key = (id(metric), *labels)
        found = self._children.get(key)
        if found is None:
            found = self._children[key] = metric.labels(*labels)
        return found


_lock = threading.Lock()
_metrics: _Metrics | None = None


def metrics() -> _Metrics:
    global _metrics
    if _metrics is None:
        with _lock:
            if _metrics is None:
                _metrics = _Metrics()
    return _metrics


def observe_request(surface: str, status: int, seconds: float) -> None:
    m = metrics()
    m.child(m.requests, surface, str(status)).inc()
    m.child(m.ack_seconds, surface).observe(seconds)


def observe_answer(surface: str, intent: str, answered: bool) -> None:
    m = metrics()
    if answered:
        m.child(m.answers, intent, surface).inc()
    else:
        m.child(m.unanswered, surface).inc()


def observe_digest_pass(*, sent: int, recovered: int, retry: int, failed: int) -> None:
    m = metrics()
    if sent:
        m.digest_posts.inc(sent)
    if recovered:
        m.digest_recoveries.inc(recovered)
    if retry:
        m.child(m.digest_failures, "retry").inc(retry)
    if failed:
        m.child(m.digest_failures, "failed").inc(failed)


def observe_sync(result: str) -> None:
    """``changed``, ``unchanged`` or ``failed``."""
    m = metrics()
    m.child(m.sync_runs, result).inc()
    m.child(m.sync_last, result).set(time.time())


@dataclass(frozen=True)
class DataFreshness:
    loaded_at: float | None  # epoch seconds of the newest data loaded
    last_sync_at: float | None  # epoch seconds of the last sync or ingest that changed data
    # epoch seconds when ``countermap sync`` last ended with each result (changed/unchanged/failed)
    sync_results: Mapping[str, float] = field(default_factory=dict)


def database_freshness(engine: Any) -> DataFreshness:
    """What the scrape says about the data and the last syncs, read from the database."""

    loaded, changed = data_times(engine)
    syncs = {result: b.beat_at.timestamp() for result, b in sync_results(engine).items()}
    return DataFreshness(loaded_at=loaded, last_sync_at=changed, sync_results=syncs)


class _FreshnessCollector:
    """Data age, read from the database at scrape time (the one process-independent truth)."""

    def __init__(self, read: Callable[[], DataFreshness]) -> None:
        self.read = read

    def collect(self) -> Iterable[Any]:
        from prometheus_client.core import GaugeMetricFamily

        try:
            facts = self.read()
        except Exception:  # the database is away: say so, do not fail the whole scrape
            up = GaugeMetricFamily("countermap_database_up", "Whether the database answered the scrape")
            up.add_metric([], 0)
            yield up
            return
        up = GaugeMetricFamily("countermap_database_up", "Whether the database answered the scrape")
        up.add_metric([], 1)
        yield up
        if facts.loaded_at is not None:
            age = GaugeMetricFamily("countermap_data_age_seconds", "Seconds since the newest data was loaded")
            age.add_metric([], max(0.0, time.time() - facts.loaded_at))
            yield age
            loaded = GaugeMetricFamily(
                "countermap_data_loaded_timestamp_seconds", "When the newest data was loaded"
            )
            loaded.add_metric([], facts.loaded_at)
            yield loaded
        if facts.last_sync_at is not None:
            change = GaugeMetricFamily(
                "countermap_data_changed_timestamp_seconds", "When a sync or ingest last changed the data"
            )
            change.add_metric([], facts.last_sync_at)
            yield change
        if facts.sync_results:
            ended = GaugeMetricFamily(
                "countermap_sync_result_timestamp_seconds",
                "When countermap sync last ended with each result (from the database: any host)",
                labels=["result"],
            )
            for result, at in sorted(facts.sync_results.items()):
                ended.add_metric([result], at)
            yield ended
            newest = max(facts.sync_results, key=lambda r: facts.sync_results[r])
            failing = GaugeMetricFamily(
                "countermap_sync_failing", "1 when the most recent countermap sync failed"
            )
            failing.add_metric([], 1 if newest == "failed" else 0)
            yield failing


class _ThisProcess:
    """The default registry's metrics (this process's only, when not multi-process)."""

    def collect(self) -> Iterable[Any]:
        from prometheus_client import REGISTRY

        return REGISTRY.collect()


def exposition(freshness: Callable[[], DataFreshness] | None = None) -> tuple[bytes, str]:
    """The scrape body and its content type: every process's metrics in multi-process mode."""
    from prometheus_client import CONTENT_TYPE_LATEST, CollectorRegistry, generate_latest

    metrics()  # declare everything, so a fresh server scrapes its zeros
    registry = CollectorRegistry(auto_describe=False)
    if os.environ.get(MULTIPROC_ENV):
        from prometheus_client.multiprocess import MultiProcessCollector

        MultiProcessCollector(registry)
    else:
        registry.register(_ThisProcess())
    if freshness is not None:
        registry.register(_FreshnessCollector(freshness))
    return generate_latest(registry), CONTENT_TYPE_LATEST


@contextlib.contextmanager
def multiprocess_dir() -> Iterator[str]:
    """Around gunicorn: the folder the workers share, made (private, empty, removed after) unless
    the operator named one.  Entered before any worker records a value."""
    path = os.environ.get(MULTIPROC_ENV)
    if path:
        os.makedirs(path, exist_ok=True)
        yield path
        return

    path = tempfile.mkdtemp(prefix="countermap-metrics-")
    os.environ[MULTIPROC_ENV] = path
    try:
        yield path
    finally:
        os.environ.pop(MULTIPROC_ENV, None)
        shutil.rmtree(path, ignore_errors=True)


def mark_worker_dead(pid: int) -> None:
    """gunicorn's ``child_exit``: a dead worker's live gauges leave the sum (its counters stay)."""
    if os.environ.get(MULTIPROC_ENV):
        from prometheus_client import multiprocess

        multiprocess.mark_process_dead(pid)


def serve_metrics_port(
    port: int, host: str = "0.0.0.0", freshness: Callable[[], DataFreshness] | None = None
) -> Any:
    """A small ``/metrics`` server in a thread, for the Socket Mode worker and the digest clock."""

    class Handler(BaseHTTPRequestHandler):
        def do_GET(self) -> None:
            if self.path.split("?")[0] != "/metrics":
                self.send_error(404)
                return
            body, content_type = exposition(freshness)
            self.send_response(200)
            self.send_header("Content-Type", content_type)
            self.send_header("Content-Length", str(len(body)))
            self.end_headers()
            self.wfile.write(body)

        def log_message(self, format: str, *args: Any) -> None:  # scrapes are not news
            pass

    server = ThreadingHTTPServer((host, port), Handler)
    server.daemon_threads = True
    threading.Thread(target=server.serve_forever, name="cm-metrics", daemon=True).start()
    return server
