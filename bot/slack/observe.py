"""Every Slack request observed: a request ID, its surface, the intent of its answer and the time
to the ack, as one log line (``countermap.access``) and as metrics.

Wrapped around ``App.dispatch``, so HTTP and Socket Mode are measured alike, and refused,
duplicate and replayed requests are counted too.  Answers that travel after the ack (a
mention's reply, a lazy listener) log a second line, ``answered``, with the full latency.
"""

from __future__ import annotations

import logging
from collections.abc import Callable
from typing import Any

from slack_bolt import BoltRequest, BoltResponse

from bot.ops import context, metrics

access = logging.getLogger("countermap.access")

_EVENT_SURFACES = {
    "app_mention": "mention",
    "link_shared": "unfurl",
    "app_home_opened": "home",
}
_TYPE_SURFACES = {
    "block_actions": "action",
    "view_submission": "view",
    "view_closed": "view",
    "shortcut": "shortcut",
    "message_action": "shortcut",
    "block_suggestion": "options",
}


def surface_of(body: dict[str, Any]) -> str:
    """The Slack surface a payload came from, in a small fixed set (it is a metric label)."""
    if body.get("command"):
        return "command"
    kind = body.get("type")
    if kind == "event_callback":
        event = body.get("event") or {}
        etype = event.get("type")
        if etype == "message":
            return "dm" if event.get("channel_type") == "im" else "message"
        return _EVENT_SURFACES.get(str(etype), "event")
    return _TYPE_SURFACES.get(str(kind), "other")


def request_id_of(req: BoltRequest) -> str | None:
    """Slack's own ID where it gives one (events, Socket Mode envelopes): it ties the log to Slack's."""
    body = req.body or {}
    if body.get("event_id"):
        return str(body["event_id"])
    return None


Dispatch = Callable[[BoltRequest], BoltResponse]


def observe_dispatch(dispatch: Dispatch) -> Dispatch:
    """Wraps ``App.dispatch``, which both the WSGI and the Socket Mode adapters call once per
    request and which returns when the ack is ready (Bolt's middleware chain runs one middleware
    after another, so a middleware cannot time the listener)."""

    def observed(req: BoltRequest) -> BoltResponse:
        body = req.body or {}
        surface = surface_of(body)
        token = context.begin(surface, request_id_of(req))
        ctx = context.current()
        assert ctx is not None
        status = 500
        try:
            response = dispatch(req)
            status = response.status
            return response
        finally:
            seconds = ctx.elapsed_ms() / 1000.0
            ctx.acked = True
            try:
                metrics.observe_request(surface, status, seconds)
            except Exception:  # metrics must never cost an answer
                access.exception("could not record the request's metrics")
            if access.isEnabledFor(logging.INFO):
                access.info(
                    "%s %s in %.1f ms",
                    surface,
                    status,
                    seconds * 1000.0,
                    extra={
                        "request_id": ctx.request_id,
                        "surface": surface,
                        "intent": ctx.intent,
                        "status": status,
                        "latency_ms": round(seconds * 1000.0, 2),
                    },
                )
            context.end(token)

    return observed


def observe_answer(answer: Any, source: str, *, unanswered: bool) -> None:
    """Called once per question answered on any surface (with the ``Answer``): counts it by intent,
    or as unanswered (nothing found, or only a low-confidence guess: ``bot.unanswered``), and logs
    the ``answered`` line when it went out after the ack."""
    resolution = getattr(answer, "resolution", None)
    intent = str(getattr(resolution, "intent", None) or "unknown")
    answered = not unanswered
    ctx = context.current()
    surface = ctx.surface if ctx is not None else source
    if ctx is not None:
        ctx.intent, ctx.answered = intent, answered
    try:
        metrics.observe_answer(surface, intent, answered)
    except Exception:
        access.exception("could not record the answer's metrics")
    if ctx is not None and ctx.acked:
        access.info(
            "answered %s after the ack",
            surface,
            extra={
                "request_id": ctx.request_id,
                "surface": surface,
                "intent": intent,
                "latency_ms": round(ctx.elapsed_ms(), 2),
                "answered": answered,
            },
        )
