"""The door of ``/slack/events``: a request's signature and timestamp are checked before anything
parses its body.

Bolt's WSGI adapter builds a ``BoltRequest`` first, and that parses the body (``json.loads`` of a
``payload=`` field or of a JSON body) before its own signature middleware runs: ``payload={`` from
anyone on the internet was a 500 with a 2.4 KB traceback, and a badly signed request had its whole
body logged at INFO.  Here the signature is checked over the raw bytes (``v0:{ts}:{body}``,
HMAC-SHA256, as Slack signs), the timestamp's shape and age first; only a request that passes is
decoded and parsed, and a body that still does not parse is the client's error (400), not ours.
Every refusal is one short log line.
"""

from __future__ import annotations

import hashlib
import hmac
import logging
import re
import time
from collections.abc import Mapping
from dataclasses import dataclass
from typing import Any
from urllib.parse import parse_qsl

from slack_bolt import BoltRequest

from bot.ops import metrics
from bot.slack.logs import clip

log = logging.getLogger(__name__)

MAX_SKEW_SECONDS = 300  # Slack's own rule: older (or newer) timestamps are replays
_TIMESTAMP = re.compile(r"[0-9]{1,12}")
_SIGNATURE = re.compile(r"v0=[0-9a-f]{64}")
_SSL_CHECK_MAX_BYTES = 1024
VERIFIED = "countermap_signature_verified"  # in a request's context: its signature was checked here


@dataclass(frozen=True)
class Refusal:
    status: int  # 400: malformed; 401: not signed by Slack
    reason: str


def signature_refusal(
    timestamp: str | None, signature: str | None, body: bytes, secret: str, *, now: float | None = None
) -> Refusal | None:
    """Why this request is not one Slack signed with ``secret``, or None when it is."""
    if timestamp is None or signature is None:
        return Refusal(401, "unsigned")
    if not _TIMESTAMP.fullmatch(timestamp):
        return Refusal(400, f"malformed timestamp {clip(timestamp, 24)!r}")
    if not _SIGNATURE.fullmatch(signature):
        return Refusal(401, "malformed signature")
    if abs((time.time() if now is None else now) - int(timestamp)) > MAX_SKEW_SECONDS:
        return Refusal(401, "stale timestamp")
    base = b"v0:" + timestamp.encode("ascii") + b":" + body
    expected = "v0=" + hmac.new(secret.encode(), base, hashlib.sha256).hexdigest()
    if not hmac.compare_digest(expected, signature):
        return Refusal(401, "bad signature")
    return None


def is_ssl_check(body: bytes, content_type: str) -> bool:
    """Slack's certificate check (``ssl_check=1``), which it sends unsigned: a small form body,
    read with ``parse_qsl`` alone (no JSON), so it is safe to look at before any signature."""
    if (
        len(body) > _SSL_CHECK_MAX_BYTES
        or b"ssl_check" not in body  # every other request: no parse of a body not yet verified
        or content_type.startswith("application/json")
    ):
        return False
    try:
        fields = dict(parse_qsl(body.decode("ascii"), keep_blank_values=True))
    except (UnicodeDecodeError, ValueError):
        return False
    return fields.get("ssl_check") == "1" and "payload" not in fields


def parse(body: bytes, query: str, headers: Mapping[str, str]) -> Any:
    """The ``BoltRequest`` for a verified body, or a ``Refusal`` when it is not a Slack payload
    (not UTF-8, not JSON where JSON is due, nested past the parser's depth, not an object)."""

    try:
        text = body.decode("utf-8")
    except UnicodeDecodeError:
        return Refusal(400, "body is not UTF-8")
    try:
        request = BoltRequest(body=text, query=query, headers=dict(headers))
    except RecursionError:
        return Refusal(400, "body nested too deeply")
    except Exception as exc:  # json.JSONDecodeError, or Bolt reading fields of a non-object
        return Refusal(400, f"body does not parse ({exc.__class__.__name__})")
    if not isinstance(request.body, dict):
        return Refusal(400, "payload is not an object")
    return request


def log_refusal(refusal: Refusal, environ: Mapping[str, Any], length: int) -> None:
    """One short line, and the refusal counted with the other requests (it never reaches Bolt)."""

    try:
        metrics.observe_request("unverified", refusal.status, 0.0)
    except Exception:  # metrics must never cost an answer
        log.debug("could not count a refused request", exc_info=True)
    log.info(
        "refused %s %s from %s: %d %s (%d bytes)",
        clip(environ.get("REQUEST_METHOD", "?"), 10),
        clip(environ.get("PATH_INFO", ""), 80),
        clip(environ.get("HTTP_X_FORWARDED_FOR") or environ.get("REMOTE_ADDR") or "?", 60),
        refusal.status,
        refusal.reason,
        length,
    )
