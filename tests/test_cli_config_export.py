"""``countermap config check|show`` and ``countermap export`` (issue 16 items 4 and 6)."""

from __future__ import annotations

import csv
import io
import json
from pathlib import Path

import orjson
import pytest
from sqlalchemy import Engine

from bot import actions
from bot.answer import Answerer
from bot.cli import main
from bot.config import Settings
from tests.test_answer_answerer import _value

SECRET_TOKEN = "xoxb-1111-2222-SECRETPART"
DB_PASSWORD = "hunter2-pw"


@pytest.fixture
def config_file(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> Path:
    for var in ("COUNTERMAP_CONFIG", "SLACK_BOT_TOKEN", "DATABASE_URL", "COUNTERMAP_DIGEST_TIMEZONE"):
        monkeypatch.delenv(var, raising=False)
    path = tmp_path / "countermap.yaml"
    path.write_text(
        f'digest_time: "08:30"\nslack_bot_token: {SECRET_TOKEN}\n'
        f"database_url: postgresql://cm:{DB_PASSWORD}@db.internal/cm\n"
    )
    return path


def test_config_check_accepts_a_valid_file(config_file: Path, capsys: pytest.CaptureFixture[str]) -> None:
    assert main(["config", "check", str(config_file)]) == 0
    assert f"ok: {config_file}" in capsys.readouterr().out


@pytest.mark.parametrize(
    ("text", "message"),
    [
        ("digest_tme: '09:00'\n", "unknown setting 'digest_tme' (did you mean digest_time?)"),
        ("digest_time: '9 o clock'\n", "digest_time must be a time of day as HH:MM"),
        ("admin_mode: everyone\n", "admin_mode must be one of channel_members"),
        ("alias_files: [missing-aliases.yaml]\n", "alias_files names a file that does not exist"),
        ("digest_poll_seconds: often\n", "digest_poll_seconds must be a whole number"),
    ],
    ids=["unknown key", "bad time", "bad mode", "missing alias file", "wrong type"],
)
def test_config_check_names_the_file_and_the_key_and_exits_2(
    tmp_path: Path,
    text: str,
    message: str,
    capsys: pytest.CaptureFixture[str],
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    monkeypatch.delenv("COUNTERMAP_CONFIG", raising=False)
    path = tmp_path / "bad.yaml"
    path.write_text(text)
    assert main(["config", "check", str(path)]) == 2
    err = capsys.readouterr().err
    assert str(path) in err and message in err and "Traceback" not in err
    assert len(err.strip().splitlines()) == 1


def test_config_check_names_a_bad_environment_variable(
    config_file: Path, monkeypatch: pytest.MonkeyPatch, capsysbinary: pytest.CaptureFixture[bytes]
) -> None:
    monkeypatch.setenv("COUNTERMAP_DIGEST_TIMEZONE", "Mars/Olympus_Mons")
    monkeypatch.setenv("COUNTERMAP_DIGEST_TMIE", "09:00")
    assert main(["config", "check", "--json", str(config_file)]) == 2
    out = json.loads(capsysbinary.readouterr().out)
    assert out["ok"] is False and out["file"] == str(config_file)
    assert out["error"].startswith("COUNTERMAP_DIGEST_TIMEZONE: digest_timezone is not an IANA time zone")
    assert out["warnings"] == ["COUNTERMAP_DIGEST_TMIE: not a setting (did you mean digest_time?)"]


def test_config_show_masks_secrets_and_says_where_each_setting_came_from(
    config_file: Path, monkeypatch: pytest.MonkeyPatch, capsys: pytest.CaptureFixture[str]
) -> None:
    monkeypatch.setenv("COUNTERMAP_ADMIN_MODE", "configured")
    assert main(["config", "show", str(config_file)]) == 0
    out = capsys.readouterr().out
    assert SECRET_TOKEN not in out and DB_PASSWORD not in out
    lines = {line.split()[0]: line for line in out.splitlines()}
    assert "postgresql://cm:***@db.internal/cm" in lines["database_url"]
    assert lines["database_url"].endswith(f"({config_file})")
    assert "xoxb-…" in lines["slack_bot_token"]
    assert lines["admin_mode"].endswith("(COUNTERMAP_ADMIN_MODE)") and "configured" in lines["admin_mode"]
    assert lines["digest_time"].split()[1] == "08:30"
    assert lines["command_name"].endswith("(default)")


def test_config_show_json_is_every_setting_masked(
    config_file: Path, capsysbinary: pytest.CaptureFixture[bytes]
) -> None:
    assert main(["config", "show", "--json", str(config_file)]) == 0
    raw = capsysbinary.readouterr().out
    assert SECRET_TOKEN.encode() not in raw and DB_PASSWORD.encode() not in raw
    shown = json.loads(raw)
    assert set(shown) == set(Settings.__dataclass_fields__)
    assert shown["digest_time"] == "08:30"


# --------------------------------------------------------------------------- export


def _slack_export(corpus_engine: Engine, query: str, action: str, fmt: str) -> bytes:
    """What the Export button of the same answer in Slack gives."""
    answerer = Answerer(corpus_engine, Settings())
    answer = answerer.answer(query)
    return answerer.export(_value(answer.payload.to_dict(), action), fmt)[1]


@pytest.mark.parametrize("query", ["T1048", "T1048 SC-07", "SC-07"])
def test_export_csv_is_what_slacks_export_button_gives(
    corpus_url: str, corpus_engine: Engine, query: str, capsysbinary: pytest.CaptureFixture[bytes]
) -> None:
    assert main(["--db", corpus_url, "export", *query.split(), "--csv"]) == 0
    out = capsysbinary.readouterr().out
    assert out == _slack_export(corpus_engine, query, actions.EXPORT_CSV, "csv")
    rows = list(csv.DictReader(io.StringIO(out.decode("utf-8-sig"))))
    assert rows and all(r["attack_id"].startswith("T") for r in rows)
    if query == "T1048 SC-07":
        assert {r["capability_id"] for r in rows} == {"SC-07"} and {r["attack_id"] for r in rows} == {"T1048"}


def test_export_navigator_to_a_file(
    corpus_url: str, corpus_engine: Engine, tmp_path: Path, capsysbinary: pytest.CaptureFixture[bytes]
) -> None:
    target = tmp_path / "t1048.layer.json"
    assert main(["--db", corpus_url, "export", "T1048", "--navigator", "-o", str(target)]) == 0
    assert capsysbinary.readouterr().out == b""
    content = target.read_bytes()
    assert content == _slack_export(corpus_engine, "T1048", actions.EXPORT_NAVIGATOR, "navigator")
    layer = orjson.loads(content)
    assert layer["versions"]["layer"] == "4.5"
    assert "T1048" in {t["techniqueID"] for t in layer["techniques"]}


def test_export_of_an_answer_without_mappings_is_refused(
    corpus_url: str, capsys: pytest.CaptureFixture[str]
) -> None:
    assert main(["--db", corpus_url, "export", "hello", "there", "--csv"]) == 1
    assert "nothing to export for 'hello there'" in capsys.readouterr().err


def test_export_needs_a_format() -> None:
    with pytest.raises(SystemExit) as exit_:
        main(["export", "T1048"])
    assert exit_.value.code == 2
