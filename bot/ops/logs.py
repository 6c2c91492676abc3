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

import atexit
import datetime as dt
import json
import logging
import os
import queue
import re
import sys
import threading
from typing import Any

from bot.ops.context import current

_SECRET = re.compile(r"\b(xox[abposre]|xapp|xoxe\.xox[bp])-[0-9A-Za-z.\-]+")
_URL_PASSWORD = re.compile(r"(\b[a-z][a-z0-9+.\-]*://[^:/@\s]*:)[^@\s]+@")
_QUOTE = re.compile(r'[\s"\[\]=]')  # a text field value with one of these is written quoted
CONTEXT_FIELDS = ("request_id", "surface", "intent", "status", "latency_ms")
# Everything a LogRecord carries by itself; anything else on a record came from ``extra=``.
_STANDARD = frozenset(vars(logging.LogRecord("", 0, "", 0, "", None, None))) | {"message", "asctime"}
_HANDLER_NAME = "countermap"


def redact(text: str) -> str:
    """Slack tokens and URL passwords masked."""
    if "xox" in text or "xapp" in text:  # every token pattern holds one (most lines hold none)
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
    if isinstance(value, int | float):
        return str(value)  # no secret, space or quote in a number
    text = redact(str(value))
    return json.dumps(text) if (not text or _QUOTE.search(text)) else text


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
        return sys.stderr

    @stream.setter
    def stream(self, _value: Any) -> None:
        pass


def _our_handler(root: logging.Logger) -> logging.Handler | None:
    """The handler that formats and writes (behind the queue when lines are written in the
    background)."""
    handler = next((h for h in root.handlers if h.get_name() == _HANDLER_NAME), None)
    return handler.sink if isinstance(handler, _QueueFront) else handler


# --------------------------------------------------------------------------- background writing

QUEUE_LINES = 20_000  # a log destination that stops reading costs at most this many records
BATCH_PAUSE_SECONDS = 0.01  # after a write, the writer waits this long for more lines to gather


class _QueueFront(logging.Handler):
    """On the thread that logs: the request's fields stamped, the message bound to its arguments
    (they may change once the call returns), and the record queued.  Formatting, masking and the
    write happen on the writer thread."""

    def __init__(self, sink: logging.Handler, lines: queue.Queue[logging.LogRecord | None]) -> None:
        super().__init__()
        self.sink = sink
        self.lines = lines
        self.dropped = 0
        self.addFilter(RequestFields())

    def emit(self, record: logging.LogRecord) -> None:
        try:
            record.msg, record.args = record.getMessage(), None
            self.lines.put_nowait(record)
        except queue.Full:
            self.dropped += 1
        except Exception:
            self.handleError(record)


class _Writer:
    """Writes queued records in batches: every record waiting is formatted, then one write and
    one flush for all of them."""

    def __init__(self, front: _QueueFront) -> None:
        self.front = front
        self.stopping = threading.Event()
        self.thread = threading.Thread(target=self._run, name="cm-log-writer", daemon=True)
        self.thread.start()

    def _run(self) -> None:
        lines, sink = self.front.lines, self.front.sink
        while True:
            batch = [lines.get()]
            while len(batch) < 1000:
                try:
                    batch.append(lines.get_nowait())
                except queue.Empty:
                    break
            done = None in batch
            records = [r for r in batch if r is not None]
            if self.front.dropped:
                count, self.front.dropped = self.front.dropped, 0
                note = logging.LogRecord(__name__, logging.WARNING, __name__, 0, "", None, None)
                note.msg = f"{count} log record(s) dropped: the log destination did not keep up"
                records.append(note)
            self._write(sink, records)
            if done:
                return
            # Let the next lines gather: a line after a quiet spell is written at once, but under
            # load this thread wakes (and takes the GIL from the request threads) once per pause,
            # not once per line.
            self.stopping.wait(BATCH_PAUSE_SECONDS)

    @staticmethod
    def _write(sink: logging.Handler, records: list[logging.LogRecord]) -> None:
        text = []
        for record in records:
            try:
                if record.levelno >= sink.level and sink.filter(record):
                    text.append(sink.format(record))
            except Exception:
                sink.handleError(record)
        if not text:
            return
        stream = getattr(sink, "stream", None)
        try:
            if stream is not None:
                stream.write("\n".join(text) + "\n")
                stream.flush()
        except Exception:  # stderr closed under us: nothing better to do with the lines
            pass

    def stop(self, timeout: float = 5.0) -> None:
        self.stopping.set()
        self.front.lines.put(None)
        self.thread.join(timeout)


_writer: _Writer | None = None


def write_in_background() -> None:
    """From now on this process's log lines are formatted and written by a thread of their own,
    in batches, off the threads that serve requests (gunicorn workers: the access line, one per
    request, cost ~30% of the throughput at 20 clients when written on the request's thread).
    Same records, fields, masking and format; ``stop_background_writer`` (or the process's exit)
    writes what is queued.  Call it in each process after any fork: a thread does not survive one."""
    global _writer
    root = logging.getLogger()
    current = next((h for h in root.handlers if h.get_name() == _HANDLER_NAME), None)
    if isinstance(current, _QueueFront) and _writer is not None and _writer.thread.is_alive():
        return
    sink = _our_handler(root) or configure_logging(None)
    front = _QueueFront(sink, queue.Queue(QUEUE_LINES))
    front.set_name(_HANDLER_NAME)
    if current is not None:
        root.removeHandler(current)
    root.addHandler(front)
    _writer = _Writer(front)
    atexit.register(stop_background_writer)


def stop_background_writer() -> None:
    """Write every queued line and go back to writing on the caller's thread."""
    global _writer
    writer, _writer = _writer, None
    if writer is None:
        return
    root = logging.getLogger()
    if writer.front in root.handlers:
        root.removeHandler(writer.front)
        root.addHandler(writer.front.sink)
    writer.stop()


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
    from gunicorn.glogging import Logger  # noqa: PLC0415 - only a served process needs gunicorn (~56 ms)

    class GunicornLogger(Logger):
        def setup(self, cfg: Any) -> None:
            super().setup(cfg)
            for logger in (self.error_log, self.access_log):
                for h in list(logger.handlers):
                    logger.removeHandler(h)
                logger.propagate = True

    return GunicornLogger
