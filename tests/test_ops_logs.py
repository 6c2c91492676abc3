"""One logging set-up in every process: secrets masked, text or JSON lines, the request's fields."""

from __future__ import annotations

import json
import logging
from collections.abc import Iterator
from pathlib import Path

import pytest

from bot.ops import context
from bot.ops.logs import configure_logging, gunicorn_logger_class

TOKEN = "xoxb-1234-5678-SECRETsecret"


class Stderr:
    def __init__(self, capsys: pytest.CaptureFixture[str]) -> None:
        self.capsys = capsys
        self.seen = ""

    def getvalue(self) -> str:
        self.seen += self.capsys.readouterr().err
        return self.seen


@pytest.fixture
def stderr(capsys: pytest.CaptureFixture[str]) -> Iterator[Stderr]:
    """The root handler installed fresh for the test (it writes to the current sys.stderr)."""
    root = logging.getLogger()
    saved = (list(root.handlers), root.level)
    for h in list(root.handlers):
        if h.get_name() == "countermap":
            root.removeHandler(h)
    yield Stderr(capsys)
    root.handlers[:] = saved[0]
    root.setLevel(saved[1])


def lines(buffer: Stderr) -> list[dict[str, object]]:
    return [json.loads(line) for line in buffer.getvalue().splitlines() if line.startswith("{")]


def test_json_lines_carry_the_request_id_and_surface_of_the_request_being_handled(stderr: Stderr) -> None:
    configure_logging("INFO", "json")
    token = context.begin("command")
    try:
        ctx = context.current()
        assert ctx is not None
        logging.getLogger("bot.slack").info("answered", extra={"intent": "pair", "latency_ms": 12.5})
    finally:
        context.end(token)
    logging.getLogger("bot.slack").info("outside any request")
    inside, outside = lines(stderr)
    assert inside["message"] == "answered" and inside["level"] == "INFO" and inside["logger"] == "bot.slack"
    assert inside["request_id"] == ctx.request_id and inside["surface"] == "command"
    assert inside["intent"] == "pair" and inside["latency_ms"] == 12.5
    assert "request_id" not in outside and outside["message"] == "outside any request"


@pytest.mark.parametrize("fmt", ["text", "json"])
def test_tokens_and_url_passwords_are_masked_everywhere_in_a_record(stderr: Stderr, fmt: str) -> None:
    configure_logging("INFO", fmt)
    log = logging.getLogger("slack_sdk.web")
    log.info("calling with token=%s", TOKEN, extra={"body": f"token={TOKEN}"})
    try:
        raise RuntimeError(f"cannot connect to postgresql://bot:hunter2@db:5432/cm with {TOKEN}")
    except RuntimeError:
        log.exception("failed")
    out = stderr.getvalue()
    assert TOKEN not in out and "hunter2" not in out
    assert "xoxb-…redacted" in out and "postgresql://bot:***@db:5432/cm" in out


def test_the_text_format_keeps_the_classic_line_and_appends_the_request_fields(stderr: Stderr) -> None:
    configure_logging("INFO", "text")
    token = context.begin("mention", request_id="abc123")
    try:
        logging.getLogger("bot.slack").info("answered", extra={"intent": "technique"})
    finally:
        context.end(token)
    line = stderr.getvalue().strip()
    assert " INFO [" in line and "bot.slack: answered [" in line
    assert "request_id=abc123" in line and "surface=mention" in line and "intent=technique" in line


def test_configuring_twice_changes_the_format_without_a_second_handler(stderr: Stderr) -> None:
    configure_logging("INFO", "text")
    configure_logging(None, "json")
    logging.getLogger("x").warning("once")
    assert [r["message"] for r in lines(stderr)] == ["once"]
    assert sum(h.get_name() == "countermap" for h in logging.getLogger().handlers) == 1


def test_gunicorn_lines_go_through_the_same_masking_handler(stderr: Stderr) -> None:
    from gunicorn.config import Config

    configure_logging("INFO", "json")
    cfg = Config()
    cfg.set("errorlog", "-")
    cfg.set("logger_class", gunicorn_logger_class())
    glog = cfg.logger_class(cfg)
    glog.error("worker failed: %s", TOKEN)
    (line,) = lines(stderr)
    assert line["logger"] == "gunicorn.error" and TOKEN not in str(line)
    assert "redacted" in str(line["message"])


def test_the_digest_clock_logs_through_the_same_handler(
    stderr: Stderr, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    """``countermap digest run`` used its own basicConfig, without the masking filter."""
    from bot.cli import main

    monkeypatch.setenv("COUNTERMAP_LOG_FORMAT", "json")
    monkeypatch.delenv("SLACK_BOT_TOKEN", raising=False)
    assert main(["--db", f"sqlite:///{tmp_path / 'cm.db'}", "digest", "run", "--once", "-v"]) == 0
    (handler,) = [h for h in logging.getLogger().handlers if h.get_name() == "countermap"]
    assert {type(f).__name__ for f in handler.filters} >= {"RedactSecrets", "RequestFields"}
    logging.getLogger("bot.digest").warning("token %s", TOKEN)
    assert lines(stderr)[-1]["message"] == "token xoxb-…redacted"


def test_lines_written_in_the_background_keep_their_order_fields_and_masking(stderr: Stderr) -> None:
    """A served worker writes log lines on a thread of its own; each record is still one line,
    with the request's fields from the thread that logged it, masked, in the order logged."""
    from bot.ops.logs import stop_background_writer, write_in_background

    configure_logging("INFO", "json")
    write_in_background()
    try:
        (front,) = [h for h in logging.getLogger().handlers if h.get_name() == "countermap"]
        assert type(front).__name__ == "_QueueFront"
        token = context.begin("command", request_id="req-1")
        try:
            values = ["first"]
            logging.getLogger("countermap.access").info("command %s with %s", values, TOKEN)
            values.append("changed after the call")  # the line shows the arguments as they were
            for i in range(200):
                logging.getLogger("countermap.access").info("line %d", i)
        finally:
            context.end(token)
    finally:
        stop_background_writer()  # writes everything queued
    written = lines(stderr)
    assert len(written) == 201
    assert written[0]["message"] == "command ['first'] with xoxb-…redacted"
    assert [w["message"] for w in written[1:]] == [f"line {i}" for i in range(200)]
    assert {w["request_id"] for w in written} == {"req-1"} and {w["surface"] for w in written} == {"command"}
    (handler,) = [h for h in logging.getLogger().handlers if h.get_name() == "countermap"]
    assert type(handler).__name__ == "_StderrHandler"  # back to writing on the caller's thread


def test_a_format_change_while_writing_in_the_background_reaches_the_writer(stderr: Stderr) -> None:
    from bot.ops.logs import stop_background_writer, write_in_background

    configure_logging("INFO", "text")
    write_in_background()
    try:
        configure_logging(None, "json")
        logging.getLogger("x").warning("as json")
    finally:
        stop_background_writer()
    assert [r["message"] for r in lines(stderr)] == ["as json"]
