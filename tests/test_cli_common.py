"""What every subcommand shares: ``--help`` with the exit codes, ``-q``/``-v`` everywhere, ``--json``
on every command that prints data, and input lines that are never an error whatever their bytes."""

from __future__ import annotations

import argparse
import io
import json
import os
import subprocess
import sys
from collections.abc import Iterator

import pytest

from bot.cli import build_parser, main
from bot.cli.common import EXIT_CODES_EPILOG, input_lines

# Commands whose output is data, which a script may want as JSON.
DATA_COMMANDS = {
    "stats",
    "ingest",
    "sync",
    "resolve",
    "ask",
    "gaps",
    "manifest",
    "db current",
    "db upgrade",
    "db url",
    "digest list",
    "digest run",
    "inventory list",
    "inventory history",
    "config check",
    "config show",
    "health",
    "mirror build",
}


def _leaves(
    parser: argparse.ArgumentParser, prefix: str = ""
) -> Iterator[tuple[str, argparse.ArgumentParser]]:
    subs = [a for a in parser._actions if isinstance(a, argparse._SubParsersAction)]
    if not subs:
        yield prefix.strip(), parser
        return
    for action in subs:
        for name, child in action.choices.items():
            yield from _leaves(child, f"{prefix} {name}")


LEAVES = dict(_leaves(build_parser()))


def _options(parser: argparse.ArgumentParser) -> set[str]:
    return {o for a in parser._actions for o in a.option_strings}


@pytest.mark.parametrize("name", sorted(LEAVES))
def test_every_subcommand_has_help_with_the_exit_codes(name: str) -> None:
    parser = LEAVES[name]
    assert parser.description, f"{name} has no description"
    text = parser.format_help()
    assert EXIT_CODES_EPILOG in text
    assert "3    the database is unreachable" in text


@pytest.mark.parametrize("name", sorted(LEAVES))
def test_every_subcommand_takes_quiet_and_verbose(name: str) -> None:
    assert {"-q", "--quiet", "-v", "--verbose"} <= _options(LEAVES[name]), name


@pytest.mark.parametrize("name", sorted(DATA_COMMANDS))
def test_every_data_command_takes_json(name: str) -> None:
    assert "--json" in _options(LEAVES[name])


def test_input_lines_decode_any_bytes_and_drop_a_bom() -> None:
    raw = b"\xef\xbb\xbfT1048\n\xff\xfe\r\nSC-07 \xc3\n\xe2\x82\n"
    lines = list(input_lines(io.BytesIO(raw)))
    assert lines == ["T1048", "\ufffd\ufffd", "SC-07 \ufffd", "\ufffd"]
    for line in lines:
        line.encode("utf-8")  # strict: no surrogates left


@pytest.mark.parametrize(
    ("locale", "as_json"),
    [("C", True), ("C", False), ("C.UTF-8", True)],
    ids=["C-json", "C-text", "utf8-json"],
)
def test_resolve_answers_every_line_of_bad_bytes_in_valid_utf8(
    corpus_url: str, locale: str, as_json: bool
) -> None:
    lines = [b"T1048", b"\xff", b"SC-07 \xc3\x28 in azure", b"\x00\xfe\xfe T1566.001", b"caf\xe9"]
    env = {**os.environ, "LC_ALL": locale, "LANG": locale, "PYTHONUTF8": "0", "PYTHONIOENCODING": ""}
    done = subprocess.run(
        [sys.executable, "-c", "import sys; from bot.cli import main; sys.exit(main())"]
        + ["--db", corpus_url, "resolve"]
        + (["--json"] if as_json else []),
        input=b"\n".join(lines) + b"\n",
        capture_output=True,
        env=env,
        timeout=300,
    )
    assert done.returncode == 0, done.stderr.decode("utf-8", "replace")[-2000:]
    assert b"Traceback" not in done.stderr
    out = done.stdout.decode("utf-8")  # strict: valid UTF-8 or this raises
    answers = out.splitlines()
    assert len(answers) == len(lines)
    if as_json:
        objects = [json.loads(a) for a in answers]
        assert objects[0]["techniques"][0]["id"] == "T1048"
        assert objects[1]["query"] == "\ufffd"
        assert "\ufffd" in objects[2]["query"] and objects[2]["frameworks"] == ["azure"]
        assert objects[3]["techniques"][0]["id"] == "T1566.001"
        assert objects[4]["query"] == "caf\ufffd"


def test_resolve_in_process_reads_stdin_bytes(
    corpus_url: str, monkeypatch: pytest.MonkeyPatch, capsysbinary: pytest.CaptureFixture[bytes]
) -> None:
    stdin = io.TextIOWrapper(io.BytesIO(b"T1048\n\xff\n"), encoding="utf-8", errors="strict")
    monkeypatch.setattr("sys.stdin", stdin)
    assert main(["--db", corpus_url, "resolve", "--json"]) == 0
    objects = [json.loads(line) for line in capsysbinary.readouterr().out.decode("utf-8").splitlines()]
    assert [o["query"] for o in objects] == ["T1048", "\ufffd"]


def test_a_manifest_past_slacks_50_slash_commands_is_a_clear_error() -> None:
    from bot.config import Settings
    from bot.slack.manifest import ManifestError, build_manifest

    techniques = tuple(f"T{1000 + i}" for i in range(50))  # with /attack: 51 commands
    with pytest.raises(ManifestError, match=r"51 slash commands.*at most 50.*at most 49"):
        build_manifest(Settings().with_(shortcut_techniques=techniques))
    ok = build_manifest(Settings().with_(shortcut_techniques=techniques[:49]))
    assert len(ok["features"]["slash_commands"]) == 50


def test_manifest_json_is_the_manifest(capsysbinary: pytest.CaptureFixture[bytes]) -> None:
    assert main(["manifest", "--json"]) == 0
    manifest = json.loads(capsysbinary.readouterr().out)
    assert manifest["features"]["slash_commands"][0]["command"] == "/attack"


def test_ask_answers_every_line_of_bad_bytes_on_stdin_as_json_lines(
    corpus_url: str, monkeypatch: pytest.MonkeyPatch, capsysbinary: pytest.CaptureFixture[bytes]
) -> None:
    stdin = io.TextIOWrapper(io.BytesIO(b"T1048\n\xff\nSC-07 \xc3\x28\n"), encoding="utf-8", errors="strict")
    monkeypatch.setattr("sys.stdin", stdin)
    code = main(["--db", corpus_url, "ask", "--json"])
    out = capsysbinary.readouterr().out.decode("utf-8")  # strict: valid UTF-8 or this raises
    objects = [json.loads(line) for line in out.splitlines()]
    assert [o["kind"] for o in objects] == ["technique", "help", "capability"]
    assert objects[0]["view"]["header"]["id"] == "T1048"
    assert code == 1  # one line was not a question


def test_ask_reads_stdin_bytes_whatever_the_locale(corpus_url: str) -> None:
    env = {**os.environ, "LC_ALL": "C", "LANG": "C", "PYTHONUTF8": "0", "PYTHONIOENCODING": ""}
    program = "import sys; from bot.cli import main; sys.exit(main())"
    done = subprocess.run(
        [sys.executable, "-c", program, "--db", corpus_url, "ask"],
        input=b"T1048\n\xff caf\xe9\n",
        capture_output=True,
        env=env,
        timeout=300,
    )
    assert b"Traceback" not in done.stderr, done.stderr.decode("utf-8", "replace")[-2000:]
    out = done.stdout.decode("utf-8")  # strict
    assert out.startswith("T1048 Exfiltration Over Alternative Protocol\n")
    assert "How to ask" in out or "No match" in out  # the second line was answered too


def test_ask_with_no_question_and_a_terminal_is_a_usage_error(
    corpus_url: str, monkeypatch: pytest.MonkeyPatch, capsys: pytest.CaptureFixture[str]
) -> None:
    monkeypatch.setattr("sys.stdin", type("Tty", (io.StringIO,), {"isatty": lambda self: True})())
    assert main(["--db", corpus_url, "ask"]) == 2
    assert "name a question" in capsys.readouterr().err


@pytest.mark.parametrize(
    "argv",
    [
        ["ask", "--team", "T\udcff", "T1048"],
        ["ask", "--json", "--framework", "\udcff", "T1048 \udcff"],
        ["analytics", "unanswered", "--team", "\udcffT"],
        ["resolve", "--json", "T1048\udcff"],
        ["gaps", "--team", "T\udcff", "T1048"],
        ["export", "T1048 \udcff", "--csv"],
        ["inventory", "list", "--team", "\udcff"],
    ],
    ids=["ask-team", "ask-json", "analytics-team", "resolve", "gaps-team", "export", "inventory-team"],
)
def test_bad_bytes_in_argv_never_crash(
    corpus_url: str, argv: list[str], capsysbinary: pytest.CaptureFixture[bytes]
) -> None:
    """Python decodes argv bytes that are not UTF-8 to lone surrogates (surrogateescape), which
    the database drivers and a strict stdout refuse: they reach neither."""
    code = main(["--db", corpus_url, *argv])  # an exception here is the failure
    captured = capsysbinary.readouterr()
    captured.out.decode("utf-8")  # strict
    assert code in (0, 1, 2), captured.err
