"""Process logging for the servers, with Slack secrets masked in every record.

slack_sdk already hides the ``Authorization`` header, but tokens also travel in request bodies,
error messages and payload dumps (``token=xoxb-...``, refresh tokens, app tokens).  The filter
sits on the root handlers, so no library's log line can carry one out.
"""

from __future__ import annotations

import logging
import re

_SECRET = re.compile(r"\b(xox[abposre]|xapp|xoxe\.xox[bp])-[0-9A-Za-z.\-]+")


def redact(text: str) -> str:
    return _SECRET.sub(lambda m: m.group(1) + "-…redacted", text)


class RedactSecrets(logging.Filter):
    """Rewrites the formatted message (and traceback) of every record with tokens masked."""

    def filter(self, record: logging.LogRecord) -> bool:
        try:
            message = record.getMessage()
        except Exception:  # a broken format string: leave it to the handler to report
            return True
        masked = redact(message)
        if masked != message:
            record.msg, record.args = masked, None
        if record.exc_info and not record.exc_text:
            record.exc_text = logging.Formatter().formatException(record.exc_info)
        if record.exc_text:
            record.exc_text = redact(record.exc_text)
        return True


class DropSpuriousBoltNotices(logging.Filter):
    """Bolt reads ``SLACK_BOT_TOKEN`` from the environment by itself and then warns that the token
    is unused because a client was given, on every worker start.  The client it is given carries
    that very token (``app_auth_kwargs``), so the warning would only alarm whoever reads the log."""

    _NOTICE = "As you gave `client` as well, `token` will be unused."

    def filter(self, record: logging.LogRecord) -> bool:
        return not (record.name.startswith("slack_bolt") and record.msg == self._NOTICE)


def configure_logging(level: str = "INFO") -> None:
    """Root logging to stderr with secrets masked; idempotent."""
    root = logging.getLogger()
    if not any(isinstance(f, RedactSecrets) for h in root.handlers for f in h.filters):
        handler = logging.StreamHandler()
        handler.setFormatter(
            logging.Formatter("%(asctime)s %(levelname)s [%(process)d] %(name)s: %(message)s")
        )
        handler.addFilter(RedactSecrets())
        handler.addFilter(DropSpuriousBoltNotices())
        root.addHandler(handler)
    root.setLevel(level.upper())
    # Migration chatter on every start is noise at INFO; its warnings and errors still show.
    logging.getLogger("alembic").setLevel(max(logging.WARNING, root.level))
