"""Posting a digest to Slack so that it lands once, even when Slack's answer is lost.

Every digest message carries Slack message metadata (``event_type`` ``countermap_digest``, the
digest's ID, subscription, local date and part).  A 429 is safe to repeat (Slack did nothing)
and slack_sdk's ``RateLimitErrorRetryHandler`` honours ``Retry-After``.  A 5xx or a dropped
connection is not: Slack may have accepted the post before failing.  ``VerifiedRetryHandler``
(``bot.post_once``, shared with the Slack app's replies) therefore backs off, looks for the
tagged message in the channel and retries only if it is not there.  The same look-up lets a
process that takes over a dead claimer's digest find the post.
"""

from __future__ import annotations

import datetime as dt
import logging
import time
from collections.abc import Callable
from dataclasses import dataclass
from typing import Any

from slack_sdk import WebClient
from slack_sdk.errors import SlackApiError
from slack_sdk.http_retry.builtin_handlers import (
    ConnectionErrorRetryHandler,
    RateLimitErrorRetryHandler,
    ServerErrorRetryHandler,
)

from bot.answer import Payload
from bot.post_once import VerifiedRetryHandler, find_tagged

log = logging.getLogger(__name__)

EVENT_TYPE = "countermap_digest"

# Errors that repeating cannot fix: the digest of that day is marked failed, not retried.
PERMANENT_ERRORS = frozenset(
    {
        "account_inactive",
        "channel_not_found",
        "ekm_access_denied",
        "invalid_auth",
        "invalid_blocks",
        "invalid_metadata_format",
        "invalid_metadata_schema",
        "is_archived",
        "missing_scope",
        "msg_blocks_too_long",
        "msg_too_long",
        "no_permission",
        "not_allowed_token_type",
        "not_authed",
        "not_in_channel",
        "restricted_action",
        "team_access_not_granted",
        "token_expired",
        "token_revoked",
    }
)


@dataclass(frozen=True)
class DigestTag:
    """What identifies one message of one digest in the channel."""

    digest_id: int
    subscription_id: int
    local_date: dt.date
    part: int = 0  # 0: the main message; 1..n: thread replies

    def metadata(self) -> dict[str, Any]:
        return {
            "event_type": EVENT_TYPE,
            "event_payload": {
                "digest_id": self.digest_id,
                "subscription_id": self.subscription_id,
                "local_date": self.local_date.isoformat(),
                "part": self.part,
            },
        }

    def matches(self, message: dict[str, Any]) -> bool:
        meta = message.get("metadata") or {}
        if meta.get("event_type") != EVENT_TYPE:
            return False
        p = meta.get("event_payload") or {}
        return (
            str(p.get("digest_id")) == str(self.digest_id)
            and str(p.get("subscription_id")) == str(self.subscription_id)
            and p.get("local_date") == self.local_date.isoformat()
            and str(p.get("part", 0)) == str(self.part)
        )


class PostFailed(Exception):
    """Posting failed; ``permanent`` says whether trying again later could help."""

    def __init__(self, message: str, *, permanent: bool) -> None:
        super().__init__(message)
        self.permanent = permanent


def error_code(exc: BaseException) -> str:
    if isinstance(exc, SlackApiError):
        data = getattr(exc.response, "data", None)
        if isinstance(data, dict) and data.get("error"):
            return str(data["error"])
        return f"http_{getattr(exc.response, 'status_code', '?')}"
    return type(exc).__name__


def classify(exc: BaseException) -> PostFailed:
    code = error_code(exc)
    return PostFailed(f"{code}: {str(exc)[:300]}", permanent=code in PERMANENT_ERRORS)


class DigestPoster:
    """Posts one digest's messages with one workspace's token."""

    def __init__(
        self,
        token: str,
        base_url: str,
        *,
        timeout: int = 30,
        backoff_factor: float = 0.5,
        sleep: Callable[[float], None] = time.sleep,
    ) -> None:
        self.token = token
        self.base_url = base_url
        self.timeout = timeout
        self.backoff_factor = backoff_factor
        self.sleep = sleep
        # Reads are idempotent: the usual retries for 429, 5xx and connection errors.

        self.reader = WebClient(
            token=token,
            base_url=base_url,
            timeout=timeout,
            retry_handlers=[
                ConnectionErrorRetryHandler(max_retry_count=2),
                RateLimitErrorRetryHandler(max_retry_count=3),
                ServerErrorRetryHandler(max_retry_count=2),
            ],
        )

    def find(self, channel: str, tag: DigestTag, *, thread_ts: str | None = None) -> str | None:
        """The ``ts`` of the tagged message in the channel (or thread), if Slack has it."""
        return find_tagged(self.reader, channel, tag.matches, thread_ts=thread_ts)

    def post(self, channel: str, payload: Payload, tag: DigestTag, *, thread_ts: str | None = None) -> str:
        """Post and return the message ``ts``; raises ``PostFailed``."""
        verifier = VerifiedRetryHandler(
            lambda: self.find(channel, tag, thread_ts=thread_ts), sleep=self.sleep
        )
        client = WebClient(
            token=self.token,
            base_url=self.base_url,
            timeout=self.timeout,
            retry_handlers=[RateLimitErrorRetryHandler(max_retry_count=5), verifier],
        )
        kwargs: dict[str, Any] = {
            "channel": channel,
            "text": payload.text,
            "blocks": payload.blocks,
            "metadata": tag.metadata(),
            "unfurl_links": False,
            "unfurl_media": False,
        }
        if thread_ts:
            kwargs["thread_ts"] = thread_ts
        try:
            resp = client.chat_postMessage(**kwargs)
        except Exception as exc:
            if verifier.found_ts:
                return verifier.found_ts
            raise classify(exc) from exc
        return str(resp["ts"])
