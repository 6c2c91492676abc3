"""What every listener shares: the process-wide dependencies, the answer-within-the-ack budget,
who asked and where (``Origin``, from Bolt's context), and the guard that turns a lazy
listener's failure into the user-facing error, shown where the user asked."""

from __future__ import annotations

import contextlib
import functools
import importlib
import logging
import re
import threading
from collections.abc import Callable
from concurrent.futures import Future, ThreadPoolExecutor
from concurrent.futures import TimeoutError as FutureTimeout
from dataclasses import dataclass
from typing import Any, Protocol, TypeVar

from slack_bolt import BoltContext
from slack_sdk import WebClient
from slack_sdk.models.views import View

from bot import actions
from bot.answer import AnswerService, Payload
from bot.config import Settings
from bot.errors import UserFacingError, failure
from bot.inventory.service import InventoryService
from bot.ops.context import ContextExecutor
from bot.render.errors import error_payload
from bot.slack.admin import AdminPolicy
from bot.slack.cards import CardPolicy
from bot.slack.delivery import Responder, may_have_landed
from bot.slack.lookups import LookupLog
from bot.slack.readiness import Readiness
from bot.slack.threat_mentions import ThreatMentions
from store.db import Engine, configure_models
from store.state.inventory import Inventory
from store.state.processed_events import Deduplicator

log = logging.getLogger("bot.slack")

T = TypeVar("T")

ACK_BUDGET_SECONDS = 2.0  # Slack waits 3 s for the ack; leave room for the network
# While the resolver index is rebuilt (new data) the process is short of CPU for seconds: an answer
# not ready by then goes out after a "looking it up" ack, which itself stays under a second.
REBUILD_ACK_BUDGET_SECONDS = 0.6


class DigestCommand(Protocol):
    """Handles ``/cmd digest ...`` (``bot.digest.commands.handle_digest_command``, wired in by the
    CLI: the Slack app and the digest do not import each other)."""

    def __call__(
        self,
        engine: Engine,
        settings: Settings,
        *,
        team_id: str,
        channel_id: str,
        user_id: str,
        text: str,
        user_tz: str | None,
        enterprise_id: str | None,
    ) -> Payload: ...


@dataclass
class Deps:
    settings: Settings
    engine: Engine
    answerer: AnswerService
    lookups: LookupLog
    cards: CardPolicy
    admin: AdminPolicy
    pool: ThreadPoolExecutor  # answers that may outlive the ack budget finish here
    readiness: Readiness
    dedup: Deduplicator
    digest_command: DigestCommand | None = None  # None: this app has no digests
    ack_budget: float = ACK_BUDGET_SECONDS
    inventory: InventoryService | None = None
    threats: ThreatMentions | None = None  # groups and software named in messages, for cards

    def yours(self, team_id: str | None, channel_id: str | None) -> Inventory | None:
        """The inventory answers here are marked against (the channel's, else the workspace's);
        None without one, or when it cannot be read (an answer never fails for it)."""
        if self.inventory is None or not team_id:
            return None
        try:
            return self.inventory.applicable(team_id, channel_id)
        except Exception:
            log.exception("could not read the inventory of %s/%s", team_id, channel_id)
            return None

    def close(self) -> None:
        """Stop the background workers (tests build many apps in one process)."""
        self.readiness.stop()
        self.lookups.close()
        self.dedup.close()
        self.pool.shutdown(wait=False)

    def warm_up(self) -> None:
        """Run, once, the reads every request makes besides its answer (the channel's settings and
        inventory), so that SQLAlchemy has configured its mappers and compiled those statements,
        and import what the first answer would (the metrics client), before the first user's
        request rather than during it (0.3 s).  Reads only: nothing is recorded or counted."""

        configure_models()
        try:
            self.cards.channel_frameworks("T0WARMUP0", "C0WARMUP0")
            self.yours("T0WARMUP0", "C0WARMUP0")
        except Exception:
            log.warning("warming up the per-request reads failed", exc_info=True)
        with contextlib.suppress(ImportError):
            importlib.import_module("prometheus_client")

    def before_fork(self) -> None:
        """The gunicorn master built this app to fork workers from: it runs no thread of its own."""
        self.readiness.stop(wait=True)
        self.lookups.close()
        self.cards.versions.close()

    def after_fork(self) -> None:
        """In a forked worker: fresh threads (and a fresh pool, whose bookkeeping may count
        threads of the master that the fork did not copy)."""
        self.pool = ContextExecutor(max_workers=self.pool._max_workers, thread_name_prefix="cm-answer")
        self.lookups.restart()
        self.readiness.restart()
        self.dedup.connect_now()
        self.cards.versions.open()  # fresh ones, before the pool's are opened (Running.after_fork)
        _start_threads(self.pool, min(4, self.pool._max_workers))

    def within_budget(self, work: Callable[[], T], *, quick: bool = False) -> T | Future[T]:
        """``work()``'s result if it finishes within the ack budget, else its still-running future.
        ``quick`` work (a plain answer) runs on this thread while the Answerer is warm and not
        rebuilding: it cannot then take long, and a thread hand-off costs more than the answer."""
        if quick and self.readiness.inline_ok():
            return work()
        future = self.pool.submit(work)
        budget = self.ack_budget
        if self.readiness.rebuilding:
            budget = min(budget, REBUILD_ACK_BUDGET_SECONDS)
        try:
            return future.result(timeout=budget)
        except FutureTimeout:
            return future


def _start_threads(pool: ThreadPoolExecutor, count: int) -> None:
    """Start ``count`` of the pool's threads now: it starts one per submit while none is idle,
    and a thread started inside a request costs that request 10-20 ms on a busy machine."""
    gate = threading.Event()
    started = [pool.submit(gate.wait, 5.0) for _ in range(count)]
    gate.set()
    for future in started:
        future.result(timeout=10)


@dataclass(frozen=True)
class Origin:
    """Who asked and where, as Bolt's context reads them from every payload shape (commands,
    events, interactions, views, shared channels): listeners never dig IDs out of the body."""

    team_id: str
    user_id: str
    channel_id: str | None
    enterprise_id: str | None = None
    thread_ts: str | None = None

    @classmethod
    def of(cls, context: BoltContext) -> Origin:
        return cls(
            team_id=context.team_id or "",
            user_id=context.user_id or "",
            channel_id=context.channel_id or None,
            enterprise_id=context.enterprise_id or None,
            thread_ts=context.thread_ts or None,
        )

    @property
    def in_dm(self) -> bool:
        return (self.channel_id or "").startswith("D")


def report(surface: str, exc: BaseException | None = None) -> Payload:
    """The user-facing rendering of ``exc`` (logged with an error ID unless raised on purpose)."""
    return error_payload(failure(surface, exc))


def message_args(payload: Payload) -> dict[str, Any]:
    return {"text": payload.text, "blocks": payload.blocks}


def first_action(body: dict[str, Any]) -> dict[str, Any]:
    acts = body.get("actions") or [{}]
    return acts[0] if isinstance(acts[0], dict) else {}


def value_of(action: dict[str, Any]) -> str:
    """A button's ``value`` or a menu's selected option value."""
    selected = action.get("selected_option")
    if isinstance(selected, dict) and selected.get("value"):
        return str(selected["value"])
    return str(action.get("value") or "")


_SHARE = actions.matcher(actions.SHARE)
_EXPORTS = (actions.matcher(actions.EXPORT_CSV), actions.matcher(actions.EXPORT_NAVIGATOR))


def without_actions(payload: Payload, *patterns: re.Pattern[str]) -> Payload:
    """The payload minus buttons whose ``action_id`` matches (e.g. Share, once a message is public);
    an actions block left empty goes too."""
    blocks: list[dict[str, Any]] = []
    for block in payload.blocks:
        if block.get("type") == "actions":
            kept = [
                e
                for e in block.get("elements", [])
                if not any(p.match(str(e.get("action_id", ""))) for p in patterns)
            ]
            if not kept:
                continue
            block = {**block, "elements": kept}
        elif block.get("type") == "section" and isinstance(block.get("accessory"), dict):
            acc = block["accessory"]
            if any(p.match(str(acc.get("action_id", ""))) for p in patterns):
                block = {k: v for k, v in block.items() if k != "accessory"}
        blocks.append(block)
    return Payload(text=payload.text, blocks=blocks)


def public(payload: Payload) -> Payload:
    """The form posted in a channel or thread: no Share button (it is already shared)."""
    return without_actions(payload, _SHARE)


def modal_form(payload: Payload) -> Payload:
    """Inside a modal there is no channel to share or export to."""
    return without_actions(payload, _SHARE, *_EXPORTS)


def _show_error(error: UserFacingError, kwargs: dict[str, Any]) -> None:
    """Best effort: show the error where the user asked, and never raise from here."""
    body: dict[str, Any] = kwargs.get("body") or {}
    client: WebClient | None = kwargs.get("client")
    context: BoltContext | None = kwargs.get("context")
    origin = Origin.of(context) if context is not None else Origin("", "", None)
    shown = error_payload(error)
    try:
        respond = Responder.for_body(body)
        if respond.url:
            respond(response_type="ephemeral", replace_original=False, **message_args(shown))
            return
        event = body.get("event") or {}
        if client is not None and event.get("channel") and origin.channel_id:
            thread_ts = origin.thread_ts or (event.get("ts") if event.get("channel_type") != "im" else None)
            client.chat_postMessage(channel=origin.channel_id, thread_ts=thread_ts, **message_args(shown))
            return
        view = body.get("view") or {}
        if client is not None and view.get("id") and view.get("type") == "modal":
            client.views_update(
                view_id=view["id"],
                view=View(type="modal", title="ATT&CK mappings", close="Close", blocks=shown.blocks),
            )
            return
        if client is not None and event.get("type") == "app_home_opened" and origin.user_id:
            client.views_publish(user_id=origin.user_id, view=View(type="home", blocks=shown.blocks))
    except Exception:
        log.exception("could not show error ID %s to the user", error.error_id)


def guarded(surface: str, *, apologise: bool = True) -> Callable[[Callable[..., None]], Callable[..., None]]:
    """Wrap a lazy listener: an exception becomes the user-facing error (logged with its traceback
    and an error ID unless it is a ``UserFacingError`` raised on purpose), shown where the user
    asked (Bolt itself logs lazy failures without a traceback); ``apologise=False`` where nobody
    asked (a link preview simply does not appear).  Nothing is shown either when the failure may
    have followed a post Slack carried out (``may_have_landed``): the answer may be there, and an
    apology under it would be wrong.
    Bolt injects arguments by the wrapped function's parameter names (it unwraps)."""

    def wrap(func: Callable[..., None]) -> Callable[..., None]:
        @functools.wraps(func)
        def run(**kwargs: Any) -> None:
            try:
                func(**kwargs)
            except Exception as exc:
                error = failure(surface, exc)
                if apologise and not may_have_landed(exc):
                    _show_error(error, kwargs)

        return run

    return wrap


def just_ack(ack: Callable[..., None]) -> None:
    ack()
