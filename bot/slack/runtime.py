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

from sqlalchemy import Engine

from bot.config import Settings
from store.state.health import has_mapping_data

if TYPE_CHECKING:
    from slack_bolt import App

    from bot.answer import Answerer

log = logging.getLogger(__name__)

# (settings, engine, answerer, **app_kwargs) -> App; the real one is bot.slack.app.build_app.
AppFactory = Callable[..., "App"]


@dataclass
class Running:
    app: App
    engine: Engine
    answerer: Answerer | None

    def close(self) -> None:
        """Stop the app's background workers (flushing queued look-ups) and release the pool."""
        deps = getattr(self.app, "_countermap_deps", None)
        if deps is not None and hasattr(deps, "close"):
            try:
                deps.close()
            except Exception:
                log.exception("stopping the app's background workers failed")
        self.engine.dispose()


def default_factory() -> AppFactory:
    from bot.slack.app import build_app

    return build_app


def prepare_database(settings: Settings) -> None:
    """Once per deployment start, before workers fork: schema at head, OAuth tables present, and
    a warning when no data is loaded yet (the bot would answer every question with "nothing")."""
    from bot.slack.oauth import ensure_oauth_tables, installation_store, state_store, uses_oauth
    from store.db import make_engine
    from store.migrate import upgrade

    engine = make_engine(settings.database_url)
    try:
        upgrade(engine)
        if uses_oauth(settings):
            ensure_oauth_tables([installation_store(settings, engine), state_store(engine)], engine)
        if not has_mapping_data(engine):
            log.warning("no mapping data is loaded yet: run `countermap sync` (or `countermap ingest DIR`)")
    finally:
        engine.dispose()


def warm_up(answerer: Answerer) -> None:
    """Build the resolver index before this process takes its first request, so no user waits
    for it (and an HTTP worker reports ready only when it can answer at full speed)."""
    started = time.perf_counter()
    try:
        answerer.refresh_if_stale()
    except Exception:  # the first question will try again; serving beats refusing to start
        log.exception("could not build the resolver index at start")
        return
    log.info("resolver index ready in %.1f s", time.perf_counter() - started)
    # What start-up loaded (the index: ~80k objects) lives as long as the process: out of the
    # cyclic collector's way, a full collection no longer walks it in the middle of an answer
    # (a 40 ms pause every few hundred questions).
    gc.collect()
    gc.freeze()


def start_app(
    settings: Settings,
    *,
    factory: AppFactory | None = None,
    with_answerer: bool = True,
    **app_kwargs: Any,
) -> Running:
    """Engine, Answerer and the authenticated Bolt app for this process."""
    from bot.slack.oauth import app_auth_kwargs, enable_installation_events
    from store.db import make_engine

    engine = make_engine(settings.database_url)
    answerer = None
    if with_answerer:
        from bot.answer import Answerer

        answerer = Answerer(engine, settings)
        warm_up(answerer)
    kwargs = {**app_auth_kwargs(settings, engine), **app_kwargs}
    app = (factory or default_factory())(settings, engine, answerer, **kwargs)
    enable_installation_events(app)
    return Running(app=app, engine=engine, answerer=answerer)
