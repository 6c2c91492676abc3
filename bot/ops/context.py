"""The request being handled, for log lines and metrics: an ID, the Slack surface, the intent of
the answer and when it started.  Kept in a context variable, so any log line written while the
request is handled carries its ID, and copied into the threads that finish the work
(``ContextExecutor``)."""

from __future__ import annotations

import contextvars
import random
import time
from collections.abc import Callable
from concurrent.futures import Future, ThreadPoolExecutor
from dataclasses import dataclass, field
from typing import Any, TypeVar

T = TypeVar("T")


@dataclass
class RequestContext:
    surface: str  # command, mention, dm, message, action, shortcut, view, home, unfurl, ...
    # 48 random bits, as 12 hex digits: an ID to find a request's lines by, not a secret (no
    # system call for entropy per request, as uuid4 makes)
    request_id: str = field(default_factory=lambda: f"{random.getrandbits(48):012x}")
    started: float = field(default_factory=time.perf_counter)
    intent: str | None = None  # set once the question is resolved
    answered: bool | None = None  # True: an answer about something; False: nothing recognised
    acked: bool = False  # the ack has gone: anything logged now is the answer arriving later
    # The channel settings' version as the replay guard read it once this request was in (None:
    # not read, or this request changed the settings): store.state.channels.settings_version
    settings_version: int | None = None

    def elapsed_ms(self) -> float:
        return (time.perf_counter() - self.started) * 1000.0


_current: contextvars.ContextVar[RequestContext | None] = contextvars.ContextVar("cm_request", default=None)


def current() -> RequestContext | None:
    return _current.get()


def begin(surface: str, request_id: str | None = None) -> contextvars.Token[RequestContext | None]:
    ctx = RequestContext(surface=surface)
    if request_id:
        ctx.request_id = request_id
    return _current.set(ctx)


def end(token: contextvars.Token[RequestContext | None]) -> None:
    _current.reset(token)


class ContextExecutor(ThreadPoolExecutor):
    """A thread pool whose tasks run in a copy of the submitter's context (``ThreadPoolExecutor``
    does not carry context variables over), so work finished after the ack keeps the request ID."""

    def submit(self, fn: Callable[..., T], /, *args: Any, **kwargs: Any) -> Future[T]:
        ctx = contextvars.copy_context()
        return super().submit(ctx.run, fn, *args, **kwargs)
