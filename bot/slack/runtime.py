"""Assembling the running Slack app from configuration: shared by HTTP and Socket Mode.

Each process (a gunicorn worker, the Socket Mode runner) calls ``start_app`` once at start: one
engine, one ``Answerer`` (it holds the resolver index, so it must not be rebuilt per request) and
one Bolt ``App`` authenticated by ``app_auth_kwargs``.
"""

from __future__ import annotations

import gc
import logging
import time
from collections.abc import Callable
from dataclasses import dataclass
from typing import TYPE_CHECKING, Any
from urllib.error import URLError

from slack_sdk import WebClient
from slack_sdk.errors import SlackApiError

from bot.answer import Answerer
from bot.config import Settings
from bot.ops.heartbeat import Heartbeat, interval_for
from bot.ops.metrics import metrics
from bot.slack.app import build_app
from bot.slack.oauth import (
    SlackNotConfigured,
    api_url,
    app_auth_kwargs,
    enable_installation_events,
    ensure_oauth_tables,
    installation_store,
    state_store,
    uses_oauth,
)
from store.db import Engine, make_engine, open_pooled_connections
from store.migrate import upgrade
from store.state.health import has_mapping_data

if TYPE_CHECKING:
    from slack_bolt import App

    from bot.answer import Answerer
    from bot.ops.heartbeat import Heartbeat

log = logging.getLogger(__name__)

SERVING_POOL_SIZE = 12  # 8 request threads (serve's default) and the background writers

# (settings, engine, answerer, **app_kwargs) -> App; the real one is bot.slack.app.build_app.
AppFactory = Callable[..., "App"]


@dataclass
class Running:
    app: App
    engine: Engine
    answerer: Answerer | None
    heartbeat_seconds: float = 30.0
    heartbeat: Heartbeat | None = None

    def start_heartbeat(self, process: str) -> None:
        """This process's row in ``process_heartbeats`` (``countermap health``), with the data
        version it answers from."""

        answerer = self.answerer
        self.heartbeat = Heartbeat(
            self.engine,
            process,
            interval=self.heartbeat_seconds,
            detail=lambda: {"data_version": getattr(answerer, "data_version", None)},
        ).start()

    def before_fork(self) -> None:
        """In the gunicorn master, once built: warm the request path, stop the background threads
        (a fork copies no thread, but it copies the locks one may be holding) and close the
        pooled connections (a connection must not be shared between processes)."""
        deps = getattr(self.app, "_countermap_deps", None)
        if deps is not None and hasattr(deps, "before_fork"):
            deps.warm_up()
            deps.before_fork()
        self.engine.dispose()

    def after_fork(self) -> None:
        """In each forked worker: a pool of its own, and its own background threads again."""
        self.engine.dispose(close=False)
        deps = getattr(self.app, "_countermap_deps", None)
        if deps is not None and hasattr(deps, "after_fork"):
            deps.after_fork()  # first: the connections it keeps for itself are not the pool's
        self._open_connections()
        if deps is not None and hasattr(deps, "warm_up"):
            deps.warm_up()
        if self.answerer is not None:
            rehearse(self.answerer)
        _declare_metrics()
        self.start_heartbeat("web")

    def _open_connections(self, count: int = 8) -> None:
        """Open a few pooled connections before the worker's first request, in parallel, rather
        than one inside each of the first requests: on PostgreSQL each is a network round trip
        and authentication, on SQLite the file's open and its pragmas (WAL mode: 20-50 ms for
        the first in a process)."""

        try:
            open_pooled_connections(self.engine, count)
        except Exception:  # the first requests will try again, and readiness says why
            log.warning("could not open database connections at the worker's start", exc_info=True)

    def close(self) -> None:
        """Stop the app's background workers (flushing queued look-ups) and release the pool."""
        if self.heartbeat is not None:
            self.heartbeat.stop()
        deps = getattr(self.app, "_countermap_deps", None)
        if deps is not None and hasattr(deps, "close"):
            try:
                deps.close()
            except Exception:
                log.exception("stopping the app's background workers failed")
        self.engine.dispose()


def _declare_metrics() -> None:
    """The worker's metrics, made before its first request (a dozen metric objects and their
    files in the multi-process folder: 7-10 ms of the first request otherwise).  After the fork:
    the folder's files are named by the process that writes them."""
    try:
        metrics()
    except Exception:  # the first request tries again, and never fails for it
        log.warning("could not set up the metrics at the worker's start", exc_info=True)


def default_factory() -> AppFactory:
    return build_app


def prepare_database(settings: Settings) -> None:
    """Once per deployment start, before workers fork: schema at head, OAuth tables present, and
    a warning when no data is loaded yet (the bot would answer every question with "nothing")."""

    engine = make_engine(settings.database_url, create=False)  # a server never creates one
    try:
        upgrade(engine)
        if uses_oauth(settings):
            ensure_oauth_tables([installation_store(settings, engine), state_store(engine)], engine)
        if not has_mapping_data(engine):
            log.warning("no mapping data is loaded yet: run `countermap sync` (or `countermap ingest DIR`)")
    finally:
        engine.dispose()


# Questions of each common shape, answered once at start and then forgotten: what the first real
# questions would otherwise pay for (importing the read and render code, SQLAlchemy compiling
# each statement: 0.6-1.5 s on the first request) is paid before the port opens.
WARM_QUESTIONS = ("T1048 SC-07", "T1566.001", "SC-07", "exfiltration over dns in azure", "CVE-2021-44228")


def rehearse(answerer: Answerer) -> None:
    """In a forked worker, before it serves: answer each kind of question once more.  The fork
    shares the master's memory copy-on-write, so the first answer in each worker copies every
    page it touches (reference counts are writes) and opens its connections: 60-90 ms on the
    first request otherwise, against 2-5 ms for the next."""
    for question in WARM_QUESTIONS:
        try:
            answerer.answer(question)
        except Exception:
            log.warning("warming up on %r failed", question, exc_info=True)
    answerer.clear_cache()


def warm_up(answerer: Answerer) -> None:
    """Build the resolver index and run each kind of answer once before this process takes its
    first request, so no user waits for either (an HTTP server opens its port only after this)."""
    started = time.perf_counter()
    try:
        answerer.refresh_if_stale()
    except Exception:  # the first question will try again; serving beats refusing to start
        log.exception("could not build the resolver index at start")
        return
    rehearse(answerer)  # the first real questions are answered afresh, just without the set-up
    log.info("resolver index ready in %.1f s", time.perf_counter() - started)
    # What start-up loaded (the index: ~80k objects) lives as long as the process: out of the
    # cyclic collector's way, a full collection no longer walks it in the middle of an answer
    # (a 40 ms pause every few hundred questions).  Forked workers share these pages.
    gc.collect()
    gc.freeze()


SLACK_RETRY_FIRST_SECONDS = 0.5
SLACK_RETRY_MAX_SECONDS = 30.0
# Errors that say Slack is there but cannot answer now; any other error is about our credentials.
_TRANSIENT_ERRORS = frozenset(
    {"ratelimited", "internal_error", "fatal_error", "service_unavailable", "request_timeout"}
)


def wait_for_slack(settings: Settings, *, sleep: Callable[[float], None] = time.sleep) -> None:
    """Check the bot token with ``auth.test`` before building the app (Bolt does it too, once, and
    a failure there ends the worker: gunicorn then exits after hundreds of log lines).  Slack
    unreachable or failing is retried with backoff, one log line per attempt; a token Slack
    refuses is a configuration error and raises ``SlackNotConfigured``."""

    if uses_oauth(settings) or not settings.slack_bot_token:
        return  # with OAuth, tokens are per workspace and checked when used
    # No retries of its own and none of slack_sdk's error lines: this loop logs each attempt once.
    quiet = logging.Logger("countermap.auth_test", level=logging.CRITICAL + 1)
    client = WebClient(
        token=settings.slack_bot_token,
        base_url=api_url(settings),
        timeout=10,
        retry_handlers=[],
        logger=quiet,
    )
    delay, attempt = SLACK_RETRY_FIRST_SECONDS, 1
    while True:
        try:
            client.auth_test()
            if attempt > 1:
                log.info("Slack answered auth.test on attempt %d", attempt)
            return
        except SlackApiError as exc:
            error = str(exc.response.get("error") or "")
            if exc.response.status_code < 500 and error not in _TRANSIENT_ERRORS:
                why = error or exc.response.status_code
                message = f"Slack refused the bot token (auth.test: {why}): check SLACK_BOT_TOKEN."
                raise SlackNotConfigured(message) from None
            reason = f"HTTP {exc.response.status_code} {error}".strip()
        except (URLError, OSError, ValueError) as exc:  # refused, reset, timed out, a broken reply
            reason = f"{exc.__class__.__name__}: {getattr(exc, 'reason', exc)}"
        log.warning("Slack does not answer auth.test (%s): attempt %d, next in %.1fs", reason, attempt, delay)
        sleep(delay)
        delay, attempt = min(delay * 2, SLACK_RETRY_MAX_SECONDS), attempt + 1


def start_app(
    settings: Settings,
    *,
    factory: AppFactory | None = None,
    with_answerer: bool = True,
    **app_kwargs: Any,
) -> Running:
    """Engine, Answerer and the authenticated Bolt app for this process."""

    wait_for_slack(settings)
    # A server never creates its database.  The pool keeps a connection for every request thread
    # and the background writers: with SQLAlchemy's default of 5, the connections past the fifth
    # were opened and closed around each use (on SQLite with the WAL pragmas, on PostgreSQL a
    # round trip and authentication), most of all in the burst after a start.
    engine = make_engine(settings.database_url, create=False, pool_size=SERVING_POOL_SIZE)
    answerer = None
    if with_answerer:
        answerer = Answerer(engine, settings)
        warm_up(answerer)
    kwargs = {**app_auth_kwargs(settings, engine), **app_kwargs}
    app = (factory or default_factory())(settings, engine, answerer, **kwargs)
    enable_installation_events(app)

    beat = interval_for(settings.heartbeat_stale_seconds)
    return Running(app=app, engine=engine, answerer=answerer, heartbeat_seconds=beat)
