"""``countermap resolve``: the JSON-lines contract other tools depend on, and the human line."""

from __future__ import annotations

import io
import json
from pathlib import Path

import pytest

from bot.cli import main


def test_stdin_mode_prints_one_json_object_per_line_in_order(
    corpus_url: str, monkeypatch: pytest.MonkeyPatch, capsys: pytest.CaptureFixture[str]
) -> None:
    queries = ["T1048 SC-07", "", "mfa fatigue", "what mitigates T1048 in azure", "CVE-2023-34362"]
    monkeypatch.setattr("sys.stdin", io.StringIO("\n".join(queries) + "\n"))
    assert main(["--db", corpus_url, "resolve", "--json"]) == 0
    lines = capsys.readouterr().out.splitlines()
    objects = [json.loads(line) for line in lines]
    assert [o["query"] for o in objects] == queries
    for o in objects:
        assert {
            "query",
            "techniques",
            "capabilities",
            "frameworks",
            "filters",
            "intent",
            "alternatives",
        } <= set(o)
    assert objects[0]["intent"] == "pair"
    assert objects[0]["capabilities"][0] == {
        "framework": "nist_800_53",
        "id": "SC-07",
        "name": "Boundary Protection",
        "score": 100.0,
    }
    assert [o["intent"] for o in objects[1:]] == ["help", "technique", "technique", "cve"]
    assert objects[2]["techniques"][0]["id"] == "T1621"
    assert objects[3]["frameworks"] == ["azure"]


def test_a_query_given_as_words_is_one_query(corpus_url: str, capsys: pytest.CaptureFixture[str]) -> None:
    assert (
        main(["--db", corpus_url, "resolve", "--json", "aws", "controls", "for", "credential", "dumping"])
        == 0
    )
    (line,) = capsys.readouterr().out.splitlines()
    data = json.loads(line)
    assert (data["query"], data["techniques"][0]["id"], data["frameworks"]) == (
        "aws controls for credential dumping",
        "T1003",
        ["aws"],
    )


def test_without_json_each_query_gets_a_short_human_line(
    corpus_url: str, capsys: pytest.CaptureFixture[str]
) -> None:
    assert main(["--db", corpus_url, "resolve", "t1048.3", "sc7"]) == 0
    (line,) = capsys.readouterr().out.splitlines()
    assert line.startswith("'t1048.3 sc7' → pair: T1048.003 ")
    assert "nist_800_53 SC-07 Boundary Protection (100)" in line


def test_a_broken_admin_alias_file_stops_with_a_clear_message(
    corpus_url: str, tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    (tmp_path / "ours.yaml").write_text("aliases:\n  - terms: [x]\n", encoding="utf-8")
    config = tmp_path / "countermap.yaml"
    config.write_text("alias_files: [ours.yaml]\n", encoding="utf-8")
    assert main(["--db", corpus_url, "--config", str(config), "resolve", "T1048"]) == 2
    assert "ours.yaml: alias #1 ('x'): needs a target" in capsys.readouterr().err
