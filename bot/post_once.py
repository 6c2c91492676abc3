"""Posting to Slack so that a message lands once, even when Slack's answer is lost.

A 429 is safe to repeat (Slack did nothing) and so is a connection that was never made (refused,
or a name that does not resolve).  A 5xx, a connection reset or dropped before the answer, or a
timeout are not: Slack may have carried the call out before failing.  Calls that change nothing
when repeated (reads, ``chat.update``, ``views.publish``, ``chat.unfurl``) may be retried then;
calls that create something (a message, a modal, a shared file, a ``response_url`` post) may
not.  For messages there is a way to find out: each carries Slack message metadata naming it,
and ``VerifiedRetryHandler`` looks for it in the channel before posting again.

Shared by the Slack app (``bot.slack.delivery``) and the digest (``bot.digest.posting``), which
do not import each other; this module needs only slack_sdk.
"""

from __future__ import annotations

import logging
import socket
import time
from collections.abc import Callable
from typing import Any
from urllib.error import URLError
from urllib.parse import urlsplit

from slack_sdk import WebClient
from slack_sdk.http_retry.builtin_interval_calculators import BackoffRetryIntervalCalculator
from slack_sdk.http_retry.handler import RetryHandler
from slack_sdk.http_retry.request import HttpRequest
from slack_sdk.http_retry.response import HttpResponse
from slack_sdk.http_retry.state import RetryState

log = logging.getLogger(__name__)

HISTORY_PAGES = 5  # 1,000 newest messages: far more than a channel posts while a post is retried
PAGE_SIZE = 200

# Web API methods that create something each time they are called; response_url posts too.
NOT_IDEMPOTENT = frozenset(
    {
        "chat.postMessage",
        "chat.postEphemeral",
        "chat.scheduleMessage",
        "chat.meMessage",
        "views.open",
        "views.push",
        "views.update",  # with a hash, a repeat after success fails with hash_conflict
        "files.upload",
        "files.completeUploadExternal",
        "files.remote.add",
        "conversations.create",
        "reminders.add",
        "bookmarks.add",
    }
)
_READ_VERBS = frozenset(
    {"test", "history", "replies", "info", "list", "members", "getPermalink", "lookupByEmail"}
)


def method_of(url: str) -> str | None:
    """The Web API method a request URL calls (``chat.postMessage``); None for other URLs
    (a ``response_url``, a file upload URL)."""
    path = urlsplit(url).path
    head, _, method = path.rstrip("/").rpartition("/")
    return method if head.endswith("/api") and "." in method else None


def idempotent(url: str) -> bool:
    """Repeating the request changes nothing Slack shows (so it may be retried blindly)."""
    method = method_of(url)
    return method is not None and method not in NOT_IDEMPOTENT


def is_read(method: str | None) -> bool:
    return bool(method) and (
        str(method).rsplit(".", 1)[-1] in _READ_VERBS or str(method).startswith(("users.", "team."))
    )


def never_sent(error: BaseException | None) -> bool:
    """The request cannot have reached Slack: the connection was refused or the name did not
    resolve (urllib wraps both in ``URLError``)."""
    reason: object = error.reason if isinstance(error, URLError) else error
    return isinstance(reason, ConnectionRefusedError | socket.gaierror)


class NotSentRetryHandler(RetryHandler):
    """Retries only a request that never left: safe for every call."""

    def _can_retry(
        self,
        *,
        state: RetryState,
        request: HttpRequest,
        response: HttpResponse | None = None,
        error: Exception | None = None,
    ) -> bool:
        return response is None and never_sent(error)


class IdempotentRetryHandler(RetryHandler):
    """Retries a 5xx, a dropped or reset connection or a timeout, but only for calls that change
    nothing when repeated (``idempotent``); a post is left to its caller, who can look for it."""

    def _can_retry(
        self,
        *,
        state: RetryState,
        request: HttpRequest,
        response: HttpResponse | None = None,
        error: Exception | None = None,
    ) -> bool:
        if not idempotent(request.url):
            return False
        if response is not None:
            return response.status_code in (500, 502, 503, 504)
        return error is not None


class VerifiedRetryHandler(RetryHandler):
    """Retries a post after a 5xx or a lost connection only once the channel shows it is not
    there: after the backoff, ``verify()`` looks for the tagged message; found → no retry and
    ``found_ts`` holds its ``ts``; ``verify()`` failing → no retry (cannot tell: do not risk a
    duplicate), and ``unverified`` is set."""

    def __init__(
        self,
        verify: Callable[[], str | None],
        *,
        max_retry_count: int = 3,
        backoff_factor: float = 0.5,
        sleep: Callable[[float], None] = time.sleep,
    ) -> None:
        super().__init__(max_retry_count, BackoffRetryIntervalCalculator(backoff_factor=backoff_factor))
        self.verify = verify
        self.sleep = sleep
        self.found_ts: str | None = None
        self.unverified = False

    def _can_retry(
        self,
        *,
        state: RetryState,
        request: HttpRequest,
        response: HttpResponse | None = None,
        error: Exception | None = None,
    ) -> bool:
        if response is not None:
            return response.status_code >= 500
        return error is not None  # dropped, reset or timed out: outcome unknown

    def prepare_for_next_attempt(
        self,
        *,
        state: RetryState,
        request: HttpRequest,
        response: HttpResponse | None = None,
        error: Exception | None = None,
    ) -> None:
        self.sleep(self.interval_calculator.calculate_sleep_duration(state.current_attempt))
        state.increment_current_attempt()
        what = response.status_code if response is not None else type(error).__name__
        try:
            found = self.verify()
        except Exception as exc:
            log.warning("post answered %s and the channel cannot be read (%s): not retrying", what, exc)
            self.unverified = True
            state.next_attempt_requested = False
            return
        if found:
            self.found_ts = found
            state.next_attempt_requested = False
            log.info("post answered %s but is in the channel (ts %s): not retrying", what, found)
        else:
            state.next_attempt_requested = True


def find_tagged(
    reader: WebClient,
    channel: str,
    matches: Callable[[dict[str, Any]], bool],
    *,
    thread_ts: str | None = None,
    oldest: float | None = None,
) -> str | None:
    """The ``ts`` of the newest message in the channel (or thread) that ``matches`` (given each
    message with its metadata), looking at most ``HISTORY_PAGES`` pages back."""
    cursor: str | None = None
    for _ in range(HISTORY_PAGES):
        kwargs: dict[str, Any] = {"channel": channel, "limit": PAGE_SIZE, "include_all_metadata": True}
        if oldest is not None:
            kwargs["oldest"] = f"{oldest:.6f}"
        if cursor:
            kwargs["cursor"] = cursor
        if thread_ts:
            resp = reader.conversations_replies(ts=thread_ts, **kwargs)
        else:
            resp = reader.conversations_history(**kwargs)
        for message in resp.get("messages") or []:
            if isinstance(message, dict) and matches(message):
                return str(message["ts"])
        cursor = ((resp.get("response_metadata") or {}).get("next_cursor")) or None
        if not resp.get("has_more") or not cursor:
            return None
    return None
