"""Logging for the Slack processes: the process-wide set-up lives in ``bot.ops.logs`` (shared with
the digest clock and the CLI); the names stay importable from here.

What is Slack-specific is request data in log lines: anything a request carries goes through
``clip`` (control characters escaped, length bounded), and ``OneLine`` on the process handler
holds every record, whoever logs it, to one bounded line (Bolt logs the whole body of a badly
signed request; a newline in it forged a log line of its own).
"""

from __future__ import annotations

import logging
import re

from bot.ops.logs import DropSpuriousBoltNotices, RedactSecrets, configure_logging, redact

__all__ = [
    "DropSpuriousBoltNotices",
    "OneLine",
    "RedactSecrets",
    "clip",
    "configure_logging",
    "redact",
]

MAX_MESSAGE_CHARS = 4000  # a log message longer than this is cut, saying how much was left out
MAX_TRACEBACK_CHARS = 20_000

# Line breaks and other control characters (C0, DEL, C1, and the Unicode line/paragraph
# separators): in a message they would end the log line and let request data forge one of its own.
_CONTROL = re.compile("[\x00-\x1f\x7f-\x9f\u2028\u2029]")
_ESCAPES = {"\n": "\\n", "\r": "\\r", "\t": "\\t"}


def _escape(match: re.Match[str]) -> str:
    char = match.group()
    if char in _ESCAPES:
        return _ESCAPES[char]
    code = ord(char)
    return f"\\x{code:02x}" if code < 0x100 else f"\\u{code:04x}"


def clip(value: object, limit: int = 200) -> str:
    """``value`` fit for one log line: control characters escaped, at most ``limit`` characters
    of it kept (and how many were cut said).  For anything a request carries into a message."""
    text = str(value)
    cut = len(text) - limit
    if cut > 0:
        text = text[:limit]
    text = _CONTROL.sub(_escape, text)
    return f"{text}…(+{cut} chars)" if cut > 0 else text


class OneLine(logging.Filter):
    """Every record's message on one line and bounded, whoever logged it.  Tracebacks (our own
    text) keep their lines in the text format, bounded in size; the JSON format holds them in a
    field of their own."""

    def filter(self, record: logging.LogRecord) -> bool:
        try:
            message = record.getMessage()
        except Exception:
            return True
        safe = clip(message, MAX_MESSAGE_CHARS)
        if safe != message:
            record.msg, record.args = safe, None
        if record.exc_info and not record.exc_text:
            record.exc_text = logging.Formatter().formatException(record.exc_info)
        if record.exc_text and len(record.exc_text) > MAX_TRACEBACK_CHARS:
            cut = len(record.exc_text) - MAX_TRACEBACK_CHARS
            record.exc_text = f"{record.exc_text[:MAX_TRACEBACK_CHARS]}\n…(+{cut} chars)"
        return True
