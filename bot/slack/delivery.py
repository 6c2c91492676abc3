"""How every listener sends to Slack without duplicates when Slack's answer is lost.

Slack can carry out a post and still answer 500, or drop the connection before answering.  So:

* the app's Web API client (``retry_handlers``) repeats a call blindly only when it cannot have
  been carried out (a 429, a refused connection) or when repeating it changes nothing (reads,
  ``chat.update``, ``views.publish``, ``chat.unfurl``); never a post, a modal or a file share;
* ``post_message`` tags each message with metadata (``countermap_reply`` and a key) and, when the
  outcome is unknown, looks for the tag in the channel or thread before posting again;
* a ``response_url`` post cannot be looked up: ``Responder`` does not repeat it after an unknown
  outcome (a replaced or deleted ephemeral and a new one alike);
* whatever may have landed is reported as ``DeliveryUncertain`` (or recognised by
  ``may_have_landed``), and the listener guard then logs it without posting an apology.
"""

from __future__ import annotations

import logging
import time
import uuid
from collections.abc import Callable
from typing import Any

from slack_sdk import WebClient
from slack_sdk.errors import SlackApiError
from slack_sdk.http_retry.builtin_handlers import RateLimitErrorRetryHandler
from slack_sdk.http_retry.handler import RetryHandler
from slack_sdk.webhook import WebhookClient

from bot.post_once import (
    IdempotentRetryHandler,
    NotSentRetryHandler,
    VerifiedRetryHandler,
    find_tagged,
    is_read,
    method_of,
    never_sent,
)

log = logging.getLogger(__name__)

EVENT_TYPE = "countermap_reply"
POST_ATTEMPTS = 3  # the first post and at most two more, each after the channel showed it missing
BACKOFF_SECONDS = 0.25  # before each look: 0.25 s, then 0.5 s
LOOK_BACK_SECONDS = 120  # clock skew between this host and Slack, with room
RESPONSE_URL_TIMEOUT = 15


class DeliveryUncertain(Exception):
    """The message may or may not have reached Slack, and Slack cannot be asked: do not send it
    again and do not apologise for it."""


def retry_handlers() -> list[RetryHandler]:
    """For the app's Web API client and ``response_url`` posts: 429 (after ``Retry-After``) and
    refused connections always; 5xx, dropped connections and timeouts only for idempotent calls."""
    return [
        RateLimitErrorRetryHandler(max_retry_count=3),
        NotSentRetryHandler(max_retry_count=2),
        IdempotentRetryHandler(max_retry_count=2),
    ]


def may_have_landed(exc: BaseException) -> bool:
    """Whether a failure could have followed a call Slack carried out: an unknown outcome of
    anything but a read.  A connection error does not say which call it was: assume the worst."""
    if isinstance(exc, DeliveryUncertain):
        return True
    if isinstance(exc, SlackApiError):
        status = int(getattr(exc.response, "status_code", 200) or 200)
        return status >= 500 and not is_read(method_of(str(getattr(exc.response, "api_url", ""))))
    if isinstance(exc, OSError):  # RemoteDisconnected, resets, timeouts, URLError
        return not never_sent(exc)
    return False


def reply_tag(key: str) -> dict[str, Any]:
    return {"event_type": EVENT_TYPE, "event_payload": {"key": key}}


def _tagged(key: str) -> Callable[[dict[str, Any]], bool]:
    def matches(message: dict[str, Any]) -> bool:
        meta = message.get("metadata") or {}
        return meta.get("event_type") == EVENT_TYPE and (meta.get("event_payload") or {}).get("key") == key

    return matches


def post_message(
    client: WebClient,
    *,
    channel: str,
    text: str,
    blocks: list[dict[str, Any]] | None = None,
    thread_ts: str | None = None,
    key: str | None = None,
    sleep: Callable[[float], None] = time.sleep,
    **extra: Any,
) -> str:
    """``chat.postMessage`` at most once in effect; returns the message ``ts``.  ``key`` names
    the message in its metadata (one is made up when not given); after a 5xx or a lost answer the
    channel (or thread) is searched for it before any new attempt.  Raises ``DeliveryUncertain``
    when Slack's answer was lost and the channel cannot be read, ``SlackApiError`` for a refusal."""
    key = key or uuid.uuid4().hex
    since = time.time() - LOOK_BACK_SECONDS
    matches = _tagged(key)
    verifier = VerifiedRetryHandler(
        lambda: find_tagged(client, channel, matches, thread_ts=thread_ts, oldest=since),
        max_retry_count=POST_ATTEMPTS - 1,
        backoff_factor=BACKOFF_SECONDS,
        sleep=sleep,
    )
    poster = WebClient(
        token=client.token,
        base_url=client.base_url,
        timeout=client.timeout,
        ssl=client.ssl,
        proxy=client.proxy,
        headers=dict(client.headers),
        team_id=client.default_params.get("team_id"),  # an org-wide install's workspace
        logger=client._logger,
        retry_handlers=[RateLimitErrorRetryHandler(max_retry_count=3), NotSentRetryHandler(2), verifier],
    )
    args: dict[str, Any] = {"channel": channel, "text": text, "metadata": reply_tag(key), **extra}
    if blocks is not None:
        args["blocks"] = blocks
    if thread_ts:
        args["thread_ts"] = thread_ts
    try:
        return str(poster.chat_postMessage(**args)["ts"])
    except Exception as exc:
        if verifier.found_ts:
            return verifier.found_ts
        if may_have_landed(exc):
            raise DeliveryUncertain(f"chat.postMessage to {channel}: {_describe(exc)}") from exc
        raise


class Responder:
    """Posts to a payload's ``response_url``.  Slack cannot be asked whether such a post landed,
    so only a 429 or a refused connection is retried; an unknown outcome raises
    ``DeliveryUncertain``, a refusal ``RuntimeError``."""

    def __init__(self, url: str | None) -> None:
        self.url = url

    @classmethod
    def for_body(cls, body: dict[str, Any]) -> Responder:
        url = body.get("response_url") or next(
            (r.get("response_url") for r in body.get("response_urls") or [] if isinstance(r, dict)), None
        )
        return cls(str(url) if url else None)

    def __call__(self, **message: Any) -> None:
        if not self.url:
            raise ValueError("this payload has no response_url to answer through")
        client = WebhookClient(self.url, timeout=RESPONSE_URL_TIMEOUT, retry_handlers=retry_handlers())
        try:
            sent = client.send_dict({k: v for k, v in message.items() if v is not None})
        except Exception as exc:
            if may_have_landed(exc):
                raise DeliveryUncertain(f"response_url: {_describe(exc)}") from exc
            raise
        if sent.status_code >= 500:
            raise DeliveryUncertain(f"response_url answered HTTP {sent.status_code}")
        if sent.status_code >= 300:
            raise RuntimeError(f"response_url refused the message: HTTP {sent.status_code} {sent.body[:200]}")


def _describe(exc: BaseException) -> str:
    if isinstance(exc, SlackApiError):
        return f"HTTP {getattr(exc.response, 'status_code', '?')} {exc.response.get('error', '')}"
    return f"{type(exc).__name__}: {exc}"[:200]
