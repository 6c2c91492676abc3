"""``countermap ask``: the golden T1048 answers, the pair view, JSON/Block Kit output, and a
helpful refusal for unknown input."""

from __future__ import annotations

import os
import re
import subprocess
import sys
from pathlib import Path

import orjson
import pytest

from bot.cli import main
from bot.render.limits import violations


def _ask(corpus_url: str, capsys: pytest.CaptureFixture[str], *args: str) -> tuple[int, str]:
    code = main(["--db", corpus_url, "ask", *args])
    return code, capsys.readouterr().out


def test_golden_t1048_nist_rev5_at_14_1(
    corpus_url: str, corpus_dir: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    code, out = _ask(
        corpus_url,
        capsys,
        "T1048",
        "--framework",
        "nist_800_53",
        "--framework-version",
        "rev5",
        "--attack-version",
        "14.1",
        "--json",
    )
    assert code == 0
    data = orjson.loads(out)
    assert data["kind"] == "technique"
    (section,) = data["view"]["sections"]
    lines = [ln for g in section["groups"] for ln in g["lines"]]
    page = (corpus_dir / "reference" / "T1048-technique-page.txt").read_text(encoding="utf-8")
    expected = set(re.findall(r"^([A-Z]{2}-\d{2}) .+ Protects T1048 ", page, re.MULTILINE))
    assert len(expected) == 23
    assert {ln["capability_id"] for ln in lines} == expected
    assert {ln["mapping_type"] for ln in lines} == {"protects"}
    assert [s["count"] for s in data["view"]["subtechniques"]] == [12, 23, 23]


def test_golden_t1048_m365_at_14_1_keeps_license_separate(
    corpus_url: str, capsys: pytest.CaptureFixture[str]
) -> None:
    code, out = _ask(corpus_url, capsys, "T1048", "--framework", "m365", "--attack-version", "14.1", "--json")
    assert code == 0
    (section,) = orjson.loads(out)["view"]["sections"]
    lines = [ln for g in section["groups"] for ln in g["lines"]]
    assert len(lines) == 3
    for ln in lines:
        assert ln["score_category"] in ("protect", "detect", "respond") and ln["score_value"]
        assert ln["comments"] and ln["license_requirements"]
        assert ln["license_requirements"] not in ln["comments"]


def test_pair_question_gives_the_pair_view(corpus_url: str, capsys: pytest.CaptureFixture[str]) -> None:
    code, out = _ask(corpus_url, capsys, "T1048 SC-07", "--json")
    assert code == 0
    data = orjson.loads(out)
    assert data["kind"] == "pair" and data["view"]["mapped"] is True
    code, out = _ask(corpus_url, capsys, "T1048", "SC-07")
    assert code == 0 and "SC-07 maps T1048" in out


def test_blocks_output_is_a_valid_slack_payload(corpus_url: str, capsys: pytest.CaptureFixture[str]) -> None:
    code, out = _ask(corpus_url, capsys, "T1048", "--blocks")
    assert code == 0
    payload = orjson.loads(out)
    assert set(payload) == {"text", "blocks"}
    assert violations(payload) == []


def test_terminal_output_shows_scores_and_license(
    corpus_url: str, capsys: pytest.CaptureFixture[str]
) -> None:
    code, out = _ask(corpus_url, capsys, "T1048", "--framework", "m365")
    assert code == 0
    assert "●●● significant" in out and "License:" in out and "Source: Microsoft 365" in out


def test_unknown_input_says_so_and_exits_1(corpus_url: str, capsys: pytest.CaptureFixture[str]) -> None:
    code, out = _ask(corpus_url, capsys, "qqqzzz xxyyzz")
    assert code == 1
    assert "No match" in out
    code, out = _ask(corpus_url, capsys, "Exfiltration Over Alternativ Protocl", "--json")
    data = orjson.loads(out)
    # Either understood outright or offered as a "did you mean".
    assert data["kind"] == "technique" or any(a["id"] == "T1048" for a in data["view"]["alternatives"])


def test_piped_output_is_not_cut_at_80_columns(corpus_url: str) -> None:
    """Issue 15 item 13: piped into a file or grep, long lines were wrapped at 80 columns."""
    countermap = str(Path(sys.executable).parent / "countermap")
    env = {k: v for k, v in os.environ.items() if k not in ("COLUMNS", "LINES")}
    done = subprocess.run(
        [countermap, "--db", corpus_url, "ask", "T1566.001"],
        capture_output=True,
        text=True,
        env=env,
        timeout=120,
        check=False,
    )
    assert done.returncode == 0, done.stderr
    lines = done.stdout.splitlines()
    description = next(ln for ln in lines if ln.startswith("Adversaries may send spearphishing emails"))
    assert len(description) > 200  # the whole paragraph on one line
    assert all(ln == ln.rstrip() for ln in lines)  # and no padding
