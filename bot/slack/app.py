"""The Bolt app factory: every listener, the replay and duplicate-event guard, the error handler.

``process_before_response=True``: the HTTP response waits for the listener, so a slash-command
answer travels in the ack (no extra Web API call, and no 10 ms polling of Bolt's threaded ack
runner); anything that might be slow is a lazy listener or runs on the answer pool with a budget,
so the 3-second ack always holds.
"""

from __future__ import annotations

import atexit
import json
import logging
import re
import time
from collections.abc import Callable, Sequence
from typing import Any

from slack_bolt import App, BoltRequest, BoltResponse
from slack_bolt.middleware import Middleware
from slack_bolt.middleware.request_verification import RequestVerification
from slack_sdk import WebClient

from bot.answer import Answerer, AnswerService
from bot.config import Settings
from bot.inventory.service import InventoryService
from bot.ops import context
from bot.ops.context import ContextExecutor
from bot.resolve.aliases import load_aliases
from bot.slack.admin import AdminPolicy
from bot.slack.cards import CardPolicy
from bot.slack.gate import VERIFIED
from bot.slack.listeners import register_all
from bot.slack.listeners.common import Deps, DigestCommand, just_ack, message_args, report
from bot.slack.lookups import LookupLog
from bot.slack.oauth import app_auth_kwargs, web_client
from bot.slack.observe import observe_dispatch
from bot.slack.readiness import Readiness
from bot.slack.threat_mentions import ThreatMentions
from store.db import Engine
from store.state.channels import SETTINGS_VERSION_SQL
from store.state.processed_events import Deduplicator, GuardUnavailable, request_key

log = logging.getLogger(__name__)

_AUTH_KWARGS = frozenset({"token", "authorize", "oauth_settings", "oauth_flow", "installation_store"})
ANSWER_THREADS = 8
JSON_HEADERS: dict[str, str | Sequence[str]] = {"content-type": "application/json;charset=utf-8"}


def build_app(
    settings: Settings,
    engine: Engine,
    answerer: AnswerService | None,
    *,
    client: WebClient | None = None,
    digest_command: DigestCommand | None = None,
    **app_kwargs: Any,
) -> App:
    """A ready Bolt app.  Authentication comes from ``app_kwargs`` (``bot.slack.oauth.app_auth_kwargs``
    in production), or is worked out from ``settings`` when none is given."""
    if answerer is None:
        answerer = Answerer(engine, settings)
    if client is not None:
        app_kwargs["client"] = client
    if not (_AUTH_KWARGS & app_kwargs.keys()) and "client" not in app_kwargs:
        app_kwargs = {**app_auth_kwargs(settings, engine), **app_kwargs}
    if "client" not in app_kwargs:
        app_kwargs["client"] = web_client(settings, settings.slack_bot_token)
    app_kwargs.setdefault("signing_secret", settings.slack_signing_secret or "")
    app_kwargs.setdefault("process_before_response", True)
    # Bolt sets its app logger (named after the app) to the root's level on every request, by
    # assignment; under the name "countermap" that pinned "countermap.access" to whatever level
    # the root had when the last request came in.  Its own name keeps that to Bolt's loggers.
    app_kwargs.setdefault("name", "countermap.bolt")
    if not {"before_authorize", "request_verification_enabled"} & app_kwargs.keys():
        # Bolt's own signature check, in its place, but not a second time for a request the served
        # app's door already verified over its raw bytes.
        app_kwargs["request_verification_enabled"] = False
        app_kwargs["before_authorize"] = VerifiedOnce(app_kwargs["signing_secret"])
    # Lazy listeners run on this pool: in a copy of the request's context, so their log lines and
    # the answer's metrics keep the request ID and surface.
    app_kwargs.setdefault("listener_executor", ContextExecutor(max_workers=10, thread_name_prefix="cm-lazy"))
    app = App(**app_kwargs)

    deps = Deps(
        settings=settings,
        engine=engine,
        answerer=answerer,
        lookups=LookupLog(engine, settings=settings),
        cards=CardPolicy(engine, settings),
        threats=ThreatMentions(answerer.engine, lambda: getattr(answerer, "data_version", None)),
        admin=AdminPolicy(settings),
        pool=ContextExecutor(max_workers=ANSWER_THREADS, thread_name_prefix="cm-answer"),
        readiness=Readiness(answerer),
        # The claim every request makes reads the channel settings' version too (CardPolicy).
        dedup=Deduplicator(engine, read_after=SETTINGS_VERSION_SQL),
        digest_command=digest_command,
        inventory=InventoryService(
            engine, load_aliases(settings), version=lambda: getattr(answerer, "data_version", None)
        ),
    )
    # Build the resolver index now, in the background, rather than in the first user's ack; then
    # keep checking for new data off the request path.
    deps.readiness.start()
    if not deps.readiness.judgeable:
        deps.pool.submit(_warm_up, answerer)
    app.middleware(DeliveryGuard(deps.dedup))
    register_all(app, deps)
    # Events nobody needs to act on (most channel messages) still get their 200, or Slack retries;
    # link buttons (ATT&CK pages) send block_actions too, and an unanswered click shows an error.
    app.event("message")(just_ack)
    app.action(re.compile(".*"))(just_ack)

    @app.error
    def on_error(error: Exception, body: dict[str, Any]) -> BoltResponse:
        shown = report(f"bolt ({body.get('type') or body.get('command') or 'request'})", error)
        if body.get("command"):
            # A slash command's ack had not gone out: the error is its reply, as on every surface.
            reply = {"response_type": "ephemeral", **message_args(shown)}
            return BoltResponse(status=200, body=json.dumps(reply), headers=JSON_HEADERS)
        return BoltResponse(status=500, body="")

    app.dispatch = observe_dispatch(app.dispatch)  # type: ignore[method-assign,assignment]  # adapters call it
    atexit.register(deps.lookups.close)  # write the last queued look-ups when the worker exits
    app._countermap_deps = deps  # type: ignore[attr-defined]  # for tests and the runner's shutdown
    return app


def _warm_up(answerer: AnswerService) -> None:
    refresh = getattr(answerer, "refresh_if_stale", None)
    if refresh is None:
        return
    try:
        refresh()
    except Exception:
        log.exception("could not build the resolver index at start; the first question will try again")


class VerifiedOnce(RequestVerification):
    """Bolt's ``RequestVerification``, except for a request ``bot.slack.gate`` verified already
    (``gate.VERIFIED`` in its context: the served ``/slack/events`` checks every signature before
    anything parses the body).  Any other request, from another adapter or a test's ``dispatch``,
    is checked here as Bolt checks it."""

    def process(
        self, *, req: BoltRequest, resp: BoltResponse, next: Callable[[], BoltResponse]
    ) -> BoltResponse:
        if req.context.get(VERIFIED) is True:
            return next()
        return super().process(req=req, resp=resp, next=next)


class DeliveryGuard(Middleware):
    """Refuse a replayed signed request (401) and drop a duplicate event (200, no listener).
    Runs after Bolt's signature check, so only genuine requests are remembered.

    When the database cannot say whether a delivery was seen (``claim`` fails or runs out of its
    sub-second budget), answering twice is the worse outcome, so:

    * a retry (``X-Slack-Retry-Num``) gets 503 and runs nothing: Slack tries again later (after
      about a minute, then five), by when the database may answer; the first delivery of that
      event went to some instance, so it is not lost unless that one failed too;
    * a request signed more than ``UNCHECKED_MAX_AGE`` seconds ago gets 401: Slack sends at once,
      so an old signature is a replay that nothing else can now refuse;
    * any other request is a first delivery and is handled.  This process still refuses what it
      saw itself (``Deduplicator`` remembers recent keys in memory), but another process cannot.

    A ``Middleware`` subclass rather than a function: Bolt then calls it directly, without
    working out its arguments by name on every request."""

    UNCHECKED_MAX_AGE = 30

    def __init__(self, dedup: Deduplicator) -> None:
        self.dedup = dedup

    @property
    def name(self) -> str:
        return "DeliveryGuard"

    def process(
        self, *, req: BoltRequest, resp: BoltResponse, next: Callable[[], BoltResponse]
    ) -> BoltResponse | None:
        body = req.body or {}
        team_id = req.context.team_id
        keys: list[tuple[str, str | None]] = []
        signature = req.headers.get("x-slack-signature", [None])[0] if req.mode == "http" else None
        if signature:
            keys.append((request_key(signature), team_id))
        event_id = body.get("event_id") if body.get("type") == "event_callback" else None
        if event_id:
            keys.append((str(event_id), team_id))
        if not keys:
            return next()
        retry = req.headers.get("x-slack-retry-num", [None])[0]
        try:
            first_seen, settings = self.dedup.claim_and_read(keys)
        except GuardUnavailable as exc:
            return self._unchecked(req, keys, bool(signature), bool(event_id), retry, exc, next)
        ctx = context.current()
        if ctx is not None and settings is not None:
            ctx.settings_version = settings
        if event_id and not first_seen[-1] and (retry or first_seen[0]):
            # Slack re-sending an event we already have: say "got it" so it stops, run nothing.
            log.info("duplicate event %s (retry %s): already handled", event_id, retry)
            return BoltResponse(status=200, body="", headers={"X-Slack-No-Retry": "1"})
        if signature and not first_seen[0]:
            log.warning("refused a replayed request (same signature seen before)")
            return BoltResponse(status=401, body='{"error":"replayed request"}')
        if event_id and not first_seen[-1]:
            return BoltResponse(status=200, body="", headers={"X-Slack-No-Retry": "1"})
        return next()

    def _unchecked(
        self,
        req: BoltRequest,
        keys: list[tuple[str, str | None]],
        signed: bool,
        is_event: bool,
        retry: str | None,
        exc: GuardUnavailable,
        next: Callable[[], BoltResponse],
    ) -> BoltResponse:
        """The database could not say whether this delivery was seen (see the class docstring)."""
        if is_event and exc.seen_here[-1]:
            log.info("duplicate event (retry %s): this process handled it", retry)
            return BoltResponse(status=200, body="", headers={"X-Slack-No-Retry": "1"})
        if signed and exc.seen_here[0]:
            log.warning("refused a replayed request (same signature seen before)")
            return BoltResponse(status=401, body='{"error":"replayed request"}')
        if retry:
            self.dedup.forget(keys)
            log.warning("refused Slack's retry %s: cannot check it was not handled (%s)", retry, exc)
            return BoltResponse(status=503, body='{"error":"try again later"}')
        stamp = req.headers.get("x-slack-request-timestamp", ["0"])[0]
        try:
            age = time.time() - int(stamp or 0)
        except ValueError:
            age = float("inf")
        if req.mode == "http" and age > self.UNCHECKED_MAX_AGE:
            self.dedup.forget(keys)
            log.warning("refused a request signed %.0f s ago: cannot check it is no replay (%s)", age, exc)
            return BoltResponse(status=401, body='{"error":"cannot check for a replay"}')
        log.warning("handling a delivery the database could not check (%s)", exc)
        self.dedup.record_later(keys)
        return next()
