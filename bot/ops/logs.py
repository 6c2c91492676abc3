"""Process logging, the same in every process: secrets masked in every record, text or JSON lines.

slack_sdk already hides the ``Authorization`` header, but tokens also travel in request bodies,
error messages and payload dumps (``token=xoxb-...``, refresh tokens, app tokens), and database
URLs carry passwords.  The filter sits on the root handler, so no library's log line can carry one
out; gunicorn's own loggers are sent through the same handler (``GunicornLogger``).

``COUNTERMAP_LOG_FORMAT=json`` (setting ``log_format``) writes one JSON object a line, for log
shippers: ``ts``, ``level``, ``logger``, ``pid``, ``message``, and when a request is being handled
its ``request_id`` and ``surface`` (plus ``intent``, ``status``, ``latency_ms`` on the line that
answers it); any ``extra=`` fields a caller passes are kept as they are.  Other filters on the
handler (escaping, bounding of request data) run before the formatter, so both formats show what
they left.
"""

from __future__ import annotations

import datetime as dt
import json
import logging
import os
import re
from typing import Any

from bot.ops.context import current

_SECRET = re.compile(r"\b(xox[abposre]|xapp|xoxe\.xox[bp])-[0-9A-Za-z.\-]+")
_URL_PASSWORD = re.compile(r"(\b[a-z][a-z0-9+.\-]*://[^:/@\s]*:)[^@\s]+@")
CONTEXT_FIELDS = ("request_id", "surface", "intent", "status", "latency_ms")
# Everything a LogRecord carries by itself; anything else on a record came from ``extra=``.
_STANDARD = frozenset(vars(logging.LogRecord("", 0, "", 0, "", None, None))) | {"message", "asctime"}
_HANDLER_NAME = "countermap"


def redact(text: str) -> str:
    """Slack tokens and URL passwords masked."""
    text = _SECRET.sub(lambda m: m.group(1) + "-…redacted", text)
    return _URL_PASSWORD.sub(r"\1***@", text) if "://" in text else text


class RedactSecrets(logging.Filter):
    """Rewrites the formatted message (and traceback) of every record with secrets masked."""

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


class RequestFields(logging.Filter):
    """Stamps the current request's ID and surface on every record written while it is handled."""

    def filter(self, record: logging.LogRecord) -> bool:
        ctx = current()
        if ctx is not None:
            if not hasattr(record, "request_id"):
                record.request_id = ctx.request_id
            if not hasattr(record, "surface"):
                record.surface = ctx.surface
        return True


class DropSpuriousBoltNotices(logging.Filter):
    """Bolt reads ``SLACK_BOT_TOKEN`` from the environment by itself and then warns that the token
    is unused because a client was given, on every worker start.  The client it is given carries
    that very token (``app_auth_kwargs``), so the warning would only alarm whoever reads the log."""

    _NOTICE = "As you gave `client` as well, `token` will be unused."

    def filter(self, record: logging.LogRecord) -> bool:
        return not (record.name.startswith("slack_bolt") and record.msg == self._NOTICE)


def _extras(record: logging.LogRecord) -> dict[str, Any]:
    return {k: v for k, v in vars(record).items() if k not in _STANDARD and not k.startswith("_")}


class TextFormatter(logging.Formatter):
    """The classic line, with the request's fields appended as ``key=value``."""

    def __init__(self) -> None:
        super().__init__("%(asctime)s %(levelname)s [%(process)d] %(name)s: %(message)s")

    def format(self, record: logging.LogRecord) -> str:
        line = super().format(record)
        extras = _extras(record)
        if not extras:
            return line
        tail = " ".join(f"{k}={_text(v)}" for k, v in extras.items() if v is not None)
        head, sep, rest = line.partition("\n")  # keep a traceback below the fields
        return f"{head} [{tail}]{sep}{rest}" if tail else line


def _text(value: Any) -> str:
    text = redact(str(value))
    return json.dumps(text) if (not text or any(c.isspace() or c in '"[]=' for c in text)) else text


class JsonFormatter(logging.Formatter):
    """One JSON object a line; never raises (a value JSON cannot hold is written as its repr)."""

    def format(self, record: logging.LogRecord) -> str:
        out: dict[str, Any] = {
            "ts": dt.datetime.fromtimestamp(record.created, dt.UTC).isoformat(timespec="milliseconds"),
            "level": record.levelname,
            "logger": record.name,
            "pid": record.process,
            "message": redact(record.getMessage()),
        }
        for key, value in _extras(record).items():
            if key not in out:
                out[key] = redact(value) if isinstance(value, str) else value
        if record.exc_info and not record.exc_text:
            record.exc_text = self.formatException(record.exc_info)
        if record.exc_text:
            out["exc"] = redact(record.exc_text)
        if record.stack_info:
            out["stack"] = redact(self.formatStack(record.stack_info))
        return json.dumps(out, ensure_ascii=False, default=repr, separators=(",", ":"))


def log_format_from_env() -> str:
    value = (os.environ.get("COUNTERMAP_LOG_FORMAT") or "text").strip().lower()
    return value if value in ("text", "json") else "text"


class _StderrHandler(logging.StreamHandler):
    """Writes to whatever ``sys.stderr`` is now (test runners and daemons swap it)."""

    @property
    def stream(self) -> Any:
        import sys

        return sys.stderr

    @stream.setter
    def stream(self, _value: Any) -> None:
        pass


def _our_handler(root: logging.Logger) -> logging.Handler | None:
    return next((h for h in root.handlers if h.get_name() == _HANDLER_NAME), None)


def configure_logging(level: str | int | None = "INFO", fmt: str | None = None) -> logging.Handler:
    """Root logging to stderr with secrets masked and the request's fields; idempotent (a second
    call changes the level and format).  ``level=None`` keeps the level (WARNING on first call);
    ``fmt=None`` takes ``COUNTERMAP_LOG_FORMAT`` (text unless it says json)."""
    root = logging.getLogger()
    handler = _our_handler(root)
    if handler is None:
        handler = _StderrHandler()
        handler.set_name(_HANDLER_NAME)
        handler.addFilter(RequestFields())
        handler.addFilter(RedactSecrets())
        handler.addFilter(DropSpuriousBoltNotices())
        root.addHandler(handler)
        if level is None:
            level = "WARNING"
    fmt = (fmt or log_format_from_env()).lower()
    handler.setFormatter(JsonFormatter() if fmt == "json" else TextFormatter())
    if level is not None:
        root.setLevel(level.upper() if isinstance(level, str) else level)
    # Migration chatter on every start is noise at INFO; its warnings and errors still show.
    logging.getLogger("alembic").setLevel(max(logging.WARNING, root.level))
    return handler


def add_filter(log_filter: logging.Filter) -> None:
    """Put another filter (e.g. escaping request data) on the process handler, before formatting."""
    handler = _our_handler(logging.getLogger()) or configure_logging(None)
    if not any(type(f) is type(log_filter) for f in handler.filters):
        handler.addFilter(log_filter)


def gunicorn_logger_class() -> type:
    """A gunicorn logger whose error and access lines go through the process handler (masked, in
    the chosen format) instead of gunicorn's own handlers."""
    from gunicorn.glogging import Logger

    class GunicornLogger(Logger):
        def setup(self, cfg: Any) -> None:
            super().setup(cfg)
            for logger in (self.error_log, self.access_log):
                for h in list(logger.handlers):
                    logger.removeHandler(h)
                logger.propagate = True

    return GunicornLogger
