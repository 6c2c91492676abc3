"""Logging for the Slack processes: the process-wide set-up lives in ``bot.ops.logs`` (shared with
the digest clock and the CLI); the names stay importable from here."""

from __future__ import annotations

from bot.ops.logs import DropSpuriousBoltNotices, RedactSecrets, configure_logging, redact

__all__ = ["DropSpuriousBoltNotices", "RedactSecrets", "configure_logging", "redact"]
